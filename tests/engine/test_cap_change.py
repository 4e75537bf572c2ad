"""An admin lowers ETL_PARALLEL_JOBS from the console while runs are running: they finish, and
the dispatcher, once it applied the change, starts one run at a time."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import pytest
import redis
from sqlmodel import col, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs import RunContext
from etl_orchestrator.models import AuditEntry, Run, Setting, SettingHistory
from etl_orchestrator.services import settings
from etl_orchestrator.services.users import add_user
from etl_orchestrator.timeutil import as_utc
from etl_orchestrator.web.settings_actions import change_parallel_jobs
from tests.engine.conftest import Engine, spec

pytestmark = pytest.mark.slow


def held_job(ctx: RunContext) -> None:
    """Counts itself running and holds until the test opens the gate."""
    probe = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    probe.incr("started")
    deadline = time.monotonic() + 60
    while probe.get("gate") != "open" and time.monotonic() < deadline:
        time.sleep(0.01)


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def applied() -> bool:
    with session_scope() as session:
        row = session.get(Setting, settings.PARALLEL_JOBS)
        return row is not None and row.value == 1 and row.applied_at is not None


async def test_an_admin_lowers_the_cap_from_4_to_1_running_runs_finish_new_ones_go_one_by_one(
    engine: Engine, probe: redis.Redis
) -> None:
    with session_scope() as session:
        add_user(session, username="ann", password="a-long-password", role="admin", actor="test")
        assert settings.parallel_jobs(session) == 4
    engine.declare(*(spec(f"held_{i}", held_job) for i in range(7)))
    await engine.start()
    run_ids = [run_id for i in range(7) for run_id in engine.trigger(f"held_{i}")]
    await wait_until(lambda: probe.get("started") == "4")

    with session_scope() as session:
        change_parallel_jobs(session, username="ann", value="1", reason="warehouse maintenance")
    await wait_until(applied)
    with session_scope() as session:
        # Lowering the cap stopped nobody: the four are still running.
        running = session.exec(select(Run).where(col(Run.status) == "running")).all()
        assert len(running) == 4
        row = session.get(Setting, settings.PARALLEL_JOBS)
        assert row is not None
        assert row.applied_at is not None
        applied_at = as_utc(row.applied_at)

    probe.set("gate", "open")
    final = await engine.wait_final(run_ids, timeout_s=60)
    assert {run.status for run in final.values()} == {"succeeded"}

    spans = sorted(
        (as_utc(run.dispatched_at), as_utc(run.ended_at))
        for run in final.values()
        if run.dispatched_at is not None and run.ended_at is not None
    )
    first, later = spans[:4], spans[4:]
    assert all(start < applied_at for start, _ in first)
    assert len(later) == 3
    assert all(start >= applied_at for start, _ in later)
    # After the change took effect, a run is dispatched only when no other run holds a slot.
    for start, _ in later:
        holding = [span for span in spans if span[0] < start < span[1]]
        assert holding == [], f"dispatched at {start} while {holding} held slots"

    with session_scope() as session:
        [change] = session.exec(select(SettingHistory)).all()
        assert (change.old_value, change.new_value, change.changed_by, change.reason) == (
            4,
            1,
            "ann",
            "warehouse maintenance",
        )
        [entry] = session.exec(
            select(AuditEntry).where(col(AuditEntry.action) == "settings.update")
        ).all()
        assert (entry.actor, entry.role, entry.outcome, entry.params) == (
            "ann",
            "admin",
            "ok",
            {"old": 4, "new": 1},
        )
