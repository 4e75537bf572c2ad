"""Pooled attempt processes (reuse_process=True): reused while healthy, replaced when not."""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlmodel import select

from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs import RunContext
from etl_orchestrator.jobs.errors import DeclarationError
from etl_orchestrator.jobs.spec import make_spec
from etl_orchestrator.models import WorkerRecord
from etl_orchestrator.services import run_actions
from tests.engine.conftest import spec
from tests.engine.test_cooperative import attempt_of, lines_of, loops_politely
from tests.engine.test_engine import wait_until

pytestmark = pytest.mark.slow


def says_pid(ctx: RunContext) -> None:
    ctx.log.info("pid=%s", os.getpid())
    print("printed", ctx.run_id)
    print("no newline", end="")


def sleeps(ctx: RunContext) -> None:
    ctx.log.info("pid=%s", os.getpid())
    time.sleep(600)


def crashes(ctx: RunContext) -> None:
    ctx.log.info("pid=%s", os.getpid())
    os._exit(3)


def closes_its_stdout(ctx: RunContext) -> None:
    ctx.log.info("pid=%s", os.getpid())
    os.close(1)
    os.close(2)


def leaves_a_thread(ctx: RunContext) -> None:
    ctx.log.info("pid=%s", os.getpid())
    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()


def pid_of(run_id: int) -> int:
    [line] = [line for line in lines_of(run_id) if line.startswith("pid=")]
    return int(line.removeprefix("pid="))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def run_one(engine, job_id: str, timeout_s: float = 30.0) -> tuple[int, str]:
    [run_id] = engine.trigger(job_id)
    final = await engine.wait_final([run_id], timeout_s=timeout_s)
    return run_id, final[run_id].status


async def then_a_healthy_attempt(engine, run_id: int) -> bool:
    """Whether the next attempt ran in the same process as run `run_id`."""
    after, status = await run_one(engine, "says_pid")
    assert status == "succeeded"
    return pid_of(after) == pid_of(run_id)


async def test_a_pooled_process_serves_attempt_after_attempt_each_with_its_own_output(
    engine, any_db
):
    engine.declare(spec("says_pid", says_pid, reuse_process=True))
    await engine.start()
    first, status_1 = await run_one(engine, "says_pid")
    second, status_2 = await run_one(engine, "says_pid")
    assert (status_1, status_2) == ("succeeded", "succeeded")
    assert pid_of(first) == pid_of(second) != os.getpid()
    # Each attempt's lines are its own, the unterminated last one included.
    for run_id in (first, second):
        assert lines_of(run_id)[1:] == [f"printed {run_id}", "no newline"]


async def test_a_pooled_attempt_past_its_timeout_is_killed_and_its_process_not_reused(
    engine, any_db
):
    engine.declare(
        spec("sleeps", sleeps, reuse_process=True, timeout_s=1),
        spec("says_pid", says_pid, reuse_process=True),
    )
    await engine.start()
    started = time.monotonic()
    stuck, status = await run_one(engine, "sleeps")
    assert time.monotonic() - started < 10
    assert status == "failed"
    assert getattr(attempt_of(stuck), "outcome", None) == "timeout"
    assert not alive(pid_of(stuck))
    assert not await then_a_healthy_attempt(engine, stuck)


async def test_a_pooled_process_that_dies_is_recorded_as_crashed_and_replaced(engine, any_db):
    engine.declare(
        spec("crashes", crashes, reuse_process=True),
        spec("says_pid", says_pid, reuse_process=True),
    )
    await engine.start()
    crashed, status = await run_one(engine, "crashes")
    assert status == "failed"
    attempt = attempt_of(crashed)
    assert attempt is not None
    assert (attempt.outcome, attempt.error_class) == ("crashed", "transient")
    assert "exit code 3" in (attempt.error_message or "")
    assert not await then_a_healthy_attempt(engine, crashed)


async def test_cancelling_a_pooled_attempt_stops_it_and_retires_its_process(engine, any_db):
    engine.declare(
        spec("polite_loop", loops_politely, reuse_process=True, timeout_s=120),
        spec("says_pid", says_pid, reuse_process=True),
    )
    await engine.start()
    # The process that will be cancelled served an attempt before: it is a reused one.
    before, _ = await run_one(engine, "says_pid")
    [run_id] = engine.trigger("polite_loop")
    await wait_until(lambda: "looping" in lines_of(run_id))
    with session_scope() as session:
        run_actions.cancel_run(session, run_id=run_id, actor="alice", reason="wrong day")
    await wait_until(lambda: getattr(attempt_of(run_id), "outcome", None) is not None, 10)
    assert getattr(attempt_of(run_id), "outcome", None) == "cancelled"
    await wait_until(lambda: not alive(pid_of(before)), 10)
    assert not await then_a_healthy_attempt(engine, before)


def naps_then_says_pid(ctx: RunContext) -> None:
    ctx.log.info("pid=%s", os.getpid())
    time.sleep(0.5)


async def test_stopping_the_worker_mid_attempt_stops_busy_and_idle_pooled_processes(engine):
    """arq's own close gave up at the attempt it had just cancelled, before the worker's shutdown
    hook: the idle process lived on, and the worker was never recorded as stopped."""
    engine.declare(
        spec("naps", naps_then_says_pid, reuse_process=True),
        spec("sleeps", sleeps, reuse_process=True, timeout_s=600),
    )
    await engine.start()
    # Two at once: two pooled processes, then both idle.
    napped = engine.trigger("naps") + engine.trigger("naps")
    await engine.wait_final(napped)
    pids = {pid_of(run_id) for run_id in napped}
    assert len(pids) == 2
    [busy] = engine.trigger("sleeps")
    await wait_until(lambda: any(line.startswith("pid=") for line in lines_of(busy)))
    assert pid_of(busy) in pids
    await engine.stop()
    await wait_until(lambda: not any(alive(pid) for pid in pids), 5)
    with session_scope() as session:
        [worker] = session.exec(select(WorkerRecord)).all()
    assert worker.stopped_at is not None


def test_a_job_cannot_be_both_cooperative_and_pooled() -> None:
    with pytest.raises(DeclarationError, match="choose one"):
        make_spec(
            id="both", name="both", kind="python", fn=says_pid, cooperative=True, reuse_process=True
        )


@pytest.mark.parametrize("job", [leaves_a_thread, closes_its_stdout])
async def test_an_attempt_that_leaves_its_process_changed_succeeds_and_a_fresh_one_serves_next(
    engine, job
):
    """A thread left running, or a closed stdout (its end of output never comes)."""
    engine.declare(
        spec(job.__name__, job, reuse_process=True),
        spec("says_pid", says_pid, reuse_process=True),
    )
    await engine.start()
    changed, status = await run_one(engine, job.__name__)
    assert status == "succeeded"
    assert not await then_a_healthy_attempt(engine, changed)
