"""Cooperative jobs: attempts in a worker thread, with logs, timeout and cancel like a child's."""

from __future__ import annotations

import logging
import os
import time

import pytest
from sqlmodel import select

from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs import RunContext
from etl_orchestrator.jobs.errors import DeclarationError
from etl_orchestrator.jobs.spec import make_spec
from etl_orchestrator.models import RunAttempt, RunLog
from etl_orchestrator.services import run_actions
from tests.engine.conftest import spec
from tests.engine.test_engine import wait_until

pytestmark = pytest.mark.slow
module_log = logging.getLogger("tests.cooperative.module")


def chatty(ctx: RunContext) -> None:
    """Logs through its own logger and a module logger, prints, and says where it ran."""
    ctx.log.info("from the job logger")
    module_log.warning("from a module logger")
    print("printed line one")
    print("printed", end=" ")
    print("line two")
    ctx.log.info("pid=%s", os.getpid())


def loops_politely(ctx: RunContext) -> None:
    ctx.log.info("looping")
    for _ in range(6000):
        ctx.check_cancelled()
        time.sleep(0.01)


def lines_of(run_id: int) -> list[str]:
    with session_scope() as session:
        rows = session.exec(
            select(RunLog).where(RunLog.run_id == run_id).order_by(RunLog.attempt, RunLog.seq)  # type: ignore[arg-type]
        )
        return [row.message for row in rows]


async def test_a_cooperative_job_runs_in_the_worker_and_its_logs_and_prints_are_captured(
    engine, any_db
):
    engine.declare(spec("chatty", chatty, cooperative=True))
    await engine.start()
    [run_id] = engine.trigger("chatty")
    final = await engine.wait_final([run_id])
    assert final[run_id].status == "succeeded"
    lines = lines_of(run_id)
    assert lines[:4] == [
        "from the job logger",
        "from a module logger",
        "printed line one",
        "printed line two",
    ]
    # No fork: the attempt ran in this process, which hosts the test's worker.
    assert lines[4] == f"pid={os.getpid()}"


async def test_a_cooperative_job_past_its_timeout_is_asked_to_stop_and_recorded_as_timeout(
    engine, any_db
):
    engine.declare(spec("polite_loop", loops_politely, cooperative=True, timeout_s=1))
    await engine.start()
    started = time.monotonic()
    [run_id] = engine.trigger("polite_loop")
    final = await engine.wait_final([run_id], timeout_s=15)
    assert time.monotonic() - started < 10
    assert final[run_id].status == "failed"
    attempt = attempt_of(run_id)
    assert attempt is not None
    assert attempt.outcome == "timeout"


def attempt_of(run_id: int) -> RunAttempt | None:
    with session_scope() as session:
        return session.get(RunAttempt, (run_id, 1))


async def test_cancelling_a_running_cooperative_job_stops_it(engine, any_db):
    engine.declare(spec("polite_loop", loops_politely, cooperative=True, timeout_s=120))
    await engine.start()
    [run_id] = engine.trigger("polite_loop")
    await wait_until(lambda: "looping" in lines_of(run_id))
    with session_scope() as session:
        run_actions.cancel_run(session, run_id=run_id, actor="alice", reason="wrong day")
    await wait_until(lambda: getattr(attempt_of(run_id), "outcome", None) is not None, 10)
    attempt = attempt_of(run_id)
    assert attempt is not None
    assert (attempt.outcome, attempt.error_type) == (
        "cancelled",
        "etl_orchestrator.jobs.errors.CancelledByUser",
    )


def test_a_sql_job_cannot_be_declared_cooperative() -> None:
    with pytest.raises(DeclarationError, match="only Python jobs can be cooperative"):
        make_spec(id="sums", name="sums", kind="sql", sql="SELECT 1", cooperative=True)
