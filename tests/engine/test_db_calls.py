"""GroupCall: concurrent database calls share one call; a failing group falls back to one by one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from sqlalchemy.exc import OperationalError

from etl_orchestrator.engine.db_calls import GroupCall


class Recorder:
    """A `many` that records each call's items; its first call waits until released."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = threading.Event()
        self.fail_once_with: Exception | None = None

    def __call__(self, items: Sequence[str]) -> list[str]:
        self.calls.append(list(items))
        if len(self.calls) == 1:
            self.release.wait(10)
        if self.fail_once_with is not None:
            error, self.fail_once_with = self.fail_once_with, None
            raise error
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]


async def until_called(recorder: Recorder, times: int) -> None:
    while len(recorder.calls) < times:  # noqa: ASYNC110 - the call happens in a thread
        await asyncio.sleep(0.005)


async def test_a_lone_item_is_called_at_once_and_later_arrivals_share_the_next_call() -> None:
    recorder = Recorder()
    group = GroupCall(recorder, what="testing")
    first = asyncio.create_task(group("a"))
    await until_called(recorder, 1)
    rest = [asyncio.create_task(group(item)) for item in ("b", "c", "d")]
    await asyncio.sleep(0.05)
    recorder.release.set()
    assert await first == "A"
    assert [await task for task in rest] == ["B", "C", "D"]
    assert recorder.calls == [["a"], ["b", "c", "d"]]


async def test_a_failing_group_is_tried_one_by_one_so_only_the_bad_item_fails() -> None:
    recorder = Recorder()
    group = GroupCall(recorder, what="testing")
    first = asyncio.create_task(group("a"))
    await until_called(recorder, 1)
    rest = [asyncio.create_task(group(item)) for item in ("ok1", "bad", "ok2")]
    recorder.release.set()
    assert await first == "A"
    results = await asyncio.gather(*rest, return_exceptions=True)
    assert results[0] == "OK1"
    assert results[2] == "OK2"
    assert isinstance(results[1], ValueError)
    assert recorder.calls == [["a"], ["ok1", "bad", "ok2"], ["ok1"], ["bad"], ["ok2"]]


async def test_a_group_is_retried_whole_while_the_database_is_unreachable() -> None:
    recorder = Recorder()
    recorder.release.set()
    recorder.fail_once_with = OperationalError("SELECT 1", {}, Exception("server closed"))
    group = GroupCall(recorder, what="testing")
    assert list(await asyncio.gather(group("x"), group("y"))) == ["X", "Y"]
    # The first try failed as infrastructure trouble: the same group again, not one by one.
    assert recorder.calls == [["x", "y"], ["x", "y"]]


@pytest.mark.parametrize("size", [1, 300])
async def test_every_caller_gets_its_own_result_in_groups_of_any_size(size: int) -> None:
    recorder = Recorder()
    recorder.release.set()
    group = GroupCall(recorder, what="testing")
    items = [f"item{i}" for i in range(size)]
    assert await asyncio.gather(*(group(item) for item in items)) == [i.upper() for i in items]
    assert sorted(i for call in recorder.calls for i in call) == sorted(items)
