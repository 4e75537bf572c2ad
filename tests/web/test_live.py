"""The live task's stream side: each event once per group, one refresh a second per view."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from etl_orchestrator import events
from etl_orchestrator.redis_conn import EVENTS_STREAM, async_client, sync_client
from etl_orchestrator.web import live

#: Not the console's group: a console may be running on the same Redis db (the browser tests').
TEST_GROUP = "etl-console-test"


class Recorder:
    """A ViewSink that remembers what it was asked to refresh."""

    def __init__(self) -> None:
        self.overviews: list[live.Changes] = []
        self.runs: list[int] = []
        self.periodic_calls = 0

    async def overview(self, changes: live.Changes) -> None:
        self.overviews.append(changes)

    async def run(self, run_id: int) -> None:
        self.runs.append(run_id)

    async def periodic(self) -> None:
        self.periodic_calls += 1


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = async_client()
    yield client
    await client.aclose()


MakeUpdater = Callable[[str], tuple[live.LiveUpdater, Recorder]]


@pytest.fixture
def make_updater(redis_client: aioredis.Redis) -> MakeUpdater:
    def make(consumer: str) -> tuple[live.LiveUpdater, Recorder]:
        recorder = Recorder()
        updater = live.LiveUpdater(redis_client, recorder, consumer=consumer, group=TEST_GROUP)
        return updater, recorder

    return make


def publish(*changes: tuple[int, str]) -> None:
    events.publish(
        [
            {"kind": "run", "run_id": run_id, "job_id": f"job{run_id}", "to": to}
            for run_id, to in changes
        ]
    )


def time_passes(view: str) -> None:
    """What a second does to a view's throttle (no sleeping in tests)."""
    sync_client().delete(live.throttle_key(TEST_GROUP, view))


async def drain(*updaters: live.LiveUpdater, expected: int) -> None:
    seen = 0
    for _ in range(50):
        for updater in updaters:
            seen += await updater.read_once(block_ms=20)
        if seen >= expected:
            return
    raise AssertionError(f"read {seen} of {expected} events")


async def test_two_workers_in_the_group_apply_each_event_exactly_once(make_updater: MakeUpdater):
    (first, first_sink), (second, second_sink) = make_updater("w1"), make_updater("w2")
    await first.ensure_group()
    publish(*((run_id, "running") for run_id in range(1, 41)))
    await drain(first, second, expected=40)
    await first.flush()
    time_passes("overview")
    await second.flush()
    applied = [
        s[0] for sink in (first_sink, second_sink) for c in sink.overviews for s in c.statuses
    ]
    assert sorted(applied) == list(range(1, 41))


async def test_a_view_is_refreshed_at_most_once_per_interval(make_updater: MakeUpdater):
    updater, sink = make_updater("w1")
    await updater.ensure_group()
    publish((1, "running"))
    await drain(updater, expected=1)
    assert await updater.flush() == 0
    publish((1, "succeeded"), (2, "running"))
    await drain(updater, expected=2)
    wait_ms = await updater.flush()
    assert 0 < wait_ms <= live.VIEW_INTERVAL_MS
    assert len(sink.overviews) == 1
    time_passes("overview")
    await updater.flush()
    assert [c.statuses for c in sink.overviews] == [
        [(1, "job1", "running")],
        [(1, "job1", "succeeded"), (2, "job2", "running")],
    ]


async def test_only_runs_someone_has_open_are_refreshed(make_updater: MakeUpdater):
    updater, sink = make_updater("w1")
    await updater.ensure_group()
    live.watch_run(sync_client(), 5)
    publish((5, "running"), (6, "running"))
    await drain(updater, expected=2)
    await updater.flush()
    assert sink.runs == [5]


async def test_after_redis_loses_the_group_the_updater_makes_a_new_one(
    make_updater: MakeUpdater,
):
    updater, sink = make_updater("w1")
    await updater.ensure_group()
    sync_client().flushdb()
    assert await updater.read_once(block_ms=20) == 0
    publish((3, "failed"))
    await drain(updater, expected=1)
    await updater.flush()
    [changes] = sink.overviews
    assert changes.statuses == [(3, "job3", "failed")]


async def test_a_stream_deleted_under_a_waiting_read_is_recreated(make_updater: MakeUpdater):
    updater, sink = make_updater("w1")
    await updater.ensure_group()
    waiting = asyncio.create_task(updater.read_once(block_ms=5000))
    await asyncio.sleep(0.1)  # let the read block (if not, it meets NOGROUP: the same recovery)
    sync_client().delete(EVENTS_STREAM)
    assert await waiting == 0
    publish((4, "running"))
    await drain(updater, expected=1)
    await updater.flush()
    assert [c.statuses for c in sink.overviews] == [[(4, "job4", "running")]]


async def test_a_failure_becomes_a_toast_linking_to_the_run(make_updater: MakeUpdater):
    updater, sink = make_updater("w1")
    await updater.ensure_group()
    publish((8, "running"), (8, "failed"))
    await drain(updater, expected=2)
    await updater.flush()
    [toast] = sink.overviews[0].failures
    assert (toast["run_id"], toast["text"]) == ("8", "Run 8 of job8 failed")


async def test_queued_started_and_completed_runs_become_notices_not_failures(
    make_updater: MakeUpdater,
):
    updater, sink = make_updater("w1")
    await updater.ensure_group()
    publish((9, "queued"), (9, "dispatched"), (9, "running"), (9, "succeeded"))
    await drain(updater, expected=4)
    await updater.flush()
    [changes] = sink.overviews
    assert changes.failures == []
    assert [(n["run_id"], n["status"], n["text"]) for n in changes.notices] == [
        ("9", "queued", "Run 9 of job9 queued"),
        ("9", "running", "Run 9 of job9 started"),
        ("9", "succeeded", "Run 9 of job9 completed"),
    ]
    assert len({n["id"] for n in changes.notices}) == 3


async def test_the_periodic_refresh_runs_once_per_period_across_workers(
    make_updater: MakeUpdater,
):
    (first, first_sink), (second, second_sink) = make_updater("w1"), make_updater("w2")
    await first.flush()
    await second.flush()
    await first.flush()
    assert first_sink.periodic_calls + second_sink.periodic_calls == 1


@pytest.mark.parametrize(
    ("statuses", "sentence"),
    [
        ([], ""),
        ([(4, "load", "upstream_failed")], "Run 4 of load is now upstream failed"),
        (
            [(1, "a", "succeeded"), (2, "b", "failed"), (3, "c", "succeeded")],
            "3 runs changed: 1 failed, 2 succeeded",
        ),
        ([(5, "e", "running"), (5, "e", "failed")], "Run 5 of e is now failed"),
        (
            [(5, "e", "running"), (6, "f", "running"), (5, "e", "failed")],
            "2 runs changed: 1 failed, 1 running",
        ),
    ],
)
def test_the_announcement_is_one_sentence(statuses: list[Any], sentence: str):
    assert live.Changes(statuses=statuses).announcement() == sentence


class DagRecorder(Recorder):
    """A sink that also shows dependency graphs."""

    def __init__(self) -> None:
        super().__init__()
        self.dag_calls = 0

    async def dag(self) -> None:
        self.dag_calls += 1


async def test_graph_statuses_are_refreshed_only_while_a_graph_is_open_and_once_per_interval(
    redis_client: aioredis.Redis,
):
    sink = DagRecorder()
    updater = live.LiveUpdater(redis_client, sink, consumer="w1", group=TEST_GROUP)
    await updater.ensure_group()
    publish((1, "running"))
    await drain(updater, expected=1)
    await updater.flush()
    assert sink.dag_calls == 0  # nobody has a graph open

    live.watch_dag(sync_client())
    publish((1, "succeeded"))
    await drain(updater, expected=1)
    await updater.flush()
    assert sink.dag_calls == 1
    publish((2, "running"))
    await drain(updater, expected=1)
    assert 0 < await updater.flush() <= live.VIEW_INTERVAL_MS
    assert sink.dag_calls == 1
    time_passes("dag")
    await updater.flush()
    assert sink.dag_calls == 2
    await updater.flush()
    assert sink.dag_calls == 2  # nothing new happened


async def test_a_sink_without_graphs_is_never_asked_for_one(make_updater: MakeUpdater):
    updater, sink = make_updater("w1")
    await updater.ensure_group()
    live.watch_dag(sync_client())
    publish((1, "running"))
    await drain(updater, expected=1)
    await updater.flush()
    assert len(sink.overviews) == 1
