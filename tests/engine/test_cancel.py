"""Cancelling running attempts end to end: the request reaches the worker, which kills the child."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import pytest
import redis
from sqlalchemy import text
from sqlmodel import select

from etl_orchestrator import config
from etl_orchestrator.db import session_scope
from etl_orchestrator.engine import cancel as cancel_module
from etl_orchestrator.jobs import RunContext
from etl_orchestrator.models import AuditEntry, Run, RunAttempt, RunEvent
from etl_orchestrator.services import run_actions
from etl_orchestrator.states import RunStatus, transition
from tests.engine.conftest import Engine, spec

pytestmark = pytest.mark.slow
PG_SLEEP = "SELECT pg_sleep(600)"


def pg_sleeper(ctx: RunContext) -> None:
    ctx.warehouse.execute(text(PG_SLEEP))


def polite_sleeper(ctx: RunContext) -> None:
    """Checks for a cancel between short naps, as a long loop should."""
    redis.Redis.from_url(os.environ["REDIS_URL"]).set("polite:started", "1")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ctx.check_cancelled()
        time.sleep(0.02)


def stubborn_sleeper(ctx: RunContext) -> None:
    """Ignores cancel requests: only a kill stops it."""
    redis.Redis.from_url(os.environ["REDIS_URL"]).set("stubborn:started", "1")
    time.sleep(600)


def quick(ctx: RunContext) -> None:
    """Never runs in these tests: its upstream is cancelled."""


async def until(condition: Callable[[], bool], timeout_s: float = 20) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the condition is in the database or Redis
            await asyncio.sleep(0.05)


def sleeping_backends() -> int:
    with session_scope() as session:
        return int(
            session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query = :q"
                ),
                {"q": PG_SLEEP},
            ).scalar_one()
        )


def attempt_of(run_id: int, number: int = 1) -> RunAttempt | None:
    with session_scope() as session:
        return session.get(RunAttempt, (run_id, number))


def attempt_closed(run_id: int) -> bool:
    attempt = attempt_of(run_id)
    return attempt is not None and attempt.outcome is not None


def cancel(run_id: int, *, actor: str = "alice", reason: str = "blocks the nightly load") -> Run:
    with session_scope() as session:
        return run_actions.cancel_run(
            session, run_id=run_id, actor=actor, role="operator", reason=reason
        )


async def test_cancelling_a_job_stuck_in_a_postgres_query_stops_it_and_ends_the_query(
    engine: Engine, pg_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("WAREHOUSE_URL", pg_url)
    config.get_settings.cache_clear()
    engine.declare(spec("stuck_sql", pg_sleeper, timeout_s=600))
    await engine.start()
    [run_id] = engine.trigger("stuck_sql")
    await until(lambda: sleeping_backends() == 1)
    run = cancel(run_id)
    assert run.status == "cancelled"
    # The acceptance bound: killed within 5 s (2 s of grace, then SIGKILL and the query ended).
    await until(lambda: attempt_closed(run_id), timeout_s=5)
    assert sleeping_backends() == 0
    attempt = attempt_of(run_id)
    assert attempt is not None
    assert (attempt.outcome, attempt.error_type) == (
        "cancelled",
        "etl_orchestrator.jobs.errors.CancelledByUser",
    )
    with session_scope() as session:
        final = session.get(Run, run_id)
        assert final is not None
        assert final.status == "cancelled"
        event = session.exec(
            select(RunEvent).where(RunEvent.run_id == run_id, RunEvent.to_status == "cancelled")
        ).one()
        [audit] = session.exec(select(AuditEntry).where(AuditEntry.action == "run.cancel")).all()
    assert event.actor == "alice"
    assert "blocks the nightly load" in event.detail
    assert (audit.actor, audit.role, audit.reason) == (
        "alice",
        "operator",
        "blocks the nightly load",
    )


async def test_a_cancelled_running_run_stops_and_its_dependents_become_upstream_failed(
    engine: Engine, probe: redis.Redis
):
    engine.declare(
        spec("polite", polite_sleeper),
        spec("after", quick, depends_on=["polite"]),
        spec("after_after", quick, depends_on=["after"]),
    )
    await engine.start()
    run_ids = engine.trigger("polite", downstream=True)
    await until(lambda: probe.get("polite:started") == "1")
    cancel(run_ids[0])
    final = await engine.wait_final(run_ids, timeout_s=10)
    assert {run.job_id: run.status for run in final.values()} == {
        "polite": "cancelled",
        "after": "upstream_failed",
        "after_after": "upstream_failed",
    }
    await until(lambda: attempt_closed(run_ids[0]), timeout_s=10)
    attempt = attempt_of(run_ids[0])
    assert attempt is not None
    assert attempt.outcome == "cancelled"


async def test_an_attempt_whose_cancel_request_was_lost_is_stopped_by_the_workers_check(
    engine: Engine, probe: redis.Redis, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(cancel_module, "SWEEP_S", 0.2)
    engine.declare(spec("stubborn", stubborn_sleeper, timeout_s=600))
    await engine.start()
    [run_id] = engine.trigger("stubborn")
    await until(lambda: probe.get("stubborn:started") == "1")
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        # Cancelled in the database only: no request on etl:cancel reaches the worker.
        transition(session, run, RunStatus.CANCELLED, actor="alice", detail="no request sent")
    await until(lambda: attempt_closed(run_id), timeout_s=10)
    attempt = attempt_of(run_id)
    assert attempt is not None
    assert attempt.outcome == "cancelled"
    assert probe.xlen(cancel_module.CANCEL_STREAM) == 0
