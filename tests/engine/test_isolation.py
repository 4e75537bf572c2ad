"""A forked attempt seen from the worker: what a fork leaves behind, and when it may fork."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from typing import Any

from etl_orchestrator.engine.isolation import ForkGate, Watch, run_in_child


class Cycle:
    """Garbage only the cycle collector can free."""

    def __init__(self) -> None:
        self.me = self


async def test_garbage_that_exists_at_a_fork_is_still_collected_in_the_worker() -> None:
    garbage = Cycle()
    alive = weakref.ref(garbage)
    del garbage

    def target(_send: Any) -> dict[str, Any]:
        return {"outcome": "succeeded"}

    watch = Watch(timeout_s=10, on_message=lambda _m: None, on_output=lambda _s, _l: None)
    exit_ = await run_in_child(target, watch)
    assert exit_.result is not None
    assert exit_.result["outcome"] == "succeeded"
    # Frozen for the child's sake, the cycle would stay in the worker for good: a leak that
    # grew a worker by tens of MiB per thousand attempts.
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None


class Blocking:
    """A database call stand-in that runs until released, and records that it started."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> str:
        self.started.set()
        self.release.wait(10)
        return "done"


async def test_a_fork_waits_for_the_database_call_in_flight_and_new_calls_wait_for_the_fork() -> (
    None
):
    gate = ForkGate(enabled=True)
    first, second = Blocking(), Blocking()
    in_flight = asyncio.create_task(gate.call(first))
    await asyncio.to_thread(first.started.wait, 5)
    fork = asyncio.create_task(gate.quiet())
    await asyncio.sleep(0.1)
    assert not fork.done()
    later = asyncio.create_task(gate.call(second))
    await asyncio.sleep(0.1)
    assert not second.started.is_set()
    first.release.set()
    assert await in_flight == "done"
    await asyncio.wait_for(fork, 5)
    # The fork happens here, with no database thread inside SQLite.
    await asyncio.sleep(0.1)
    assert not second.started.is_set()
    gate.forked()
    second.release.set()
    assert await asyncio.wait_for(later, 5) == "done"


async def test_a_caller_that_gives_up_keeps_its_thread_counted_until_it_returns() -> None:
    gate = ForkGate(enabled=True)
    call = Blocking()
    caller = asyncio.create_task(gate.call(call))
    await asyncio.to_thread(call.started.wait, 5)
    caller.cancel()
    fork = asyncio.create_task(gate.quiet())
    await asyncio.sleep(0.1)
    assert not fork.done()
    call.release.set()
    await asyncio.wait_for(fork, 5)
    gate.forked()


async def test_with_postgresql_the_gate_never_holds_a_fork_back() -> None:
    gate = ForkGate(enabled=False)
    call = Blocking()
    in_flight = asyncio.create_task(gate.call(call))
    await asyncio.to_thread(call.started.wait, 5)
    await asyncio.wait_for(gate.quiet(), 1)
    gate.forked()
    call.release.set()
    assert await in_flight == "done"
