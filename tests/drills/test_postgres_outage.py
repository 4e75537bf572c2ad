"""Drill: PostgreSQL crashes for a while and comes back; nothing is lost, nobody is restarted."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import col, select

from etl_orchestrator.db import db_now, session_scope
from etl_orchestrator.models import AuditEntry, Run, WorkerRecord
from etl_orchestrator.observability.health import check_health
from etl_orchestrator.states import FINAL, RunStatus
from tests.drills.conftest import (
    CAP,
    EngineProcess,
    PgCluster,
    a_worker_is_registered,
    executions,
    statuses,
    trigger_naps,
    wait_for,
)

pytestmark = pytest.mark.slow
#: Four worker heartbeats and past every backoff cap, so each process meets the outage mid-work.
OUTAGE_S = 20.0


def audited_run_ids() -> set[int]:
    with session_scope() as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.action == "run.trigger"))
        return {run_id for row in rows for run_id in row.params["run_ids"]}


def fresh_heartbeats() -> set[str]:
    """Processes that beat in the last 3 s (database clock)."""
    with session_scope() as session:
        now = db_now(session)
        rows = session.exec(select(WorkerRecord))
        return {
            row.worker_id
            for row in rows
            if (now - row.last_heartbeat_at).total_seconds() < 3 and row.stopped_at is None
        }


def test_engine_rides_out_a_postgres_crash_without_losing_runs_or_audit(
    private_pg: PgCluster,
    spawn: Callable[[str], EngineProcess],
    tmp_path: Path,
) -> None:
    worker = spawn("worker")
    scheduler = spawn("scheduler")
    wait_for("the worker to register", a_worker_is_registered)

    # Running through the outage, finishing inside it, and still queued when it starts.
    through = trigger_naps(1, seconds=OUTAGE_S + 3)
    inside = trigger_naps(CAP - 1, seconds=2.0)
    wait_for(
        "the first runs to start",
        lambda: set(statuses(through + inside).values()) == {RunStatus.RUNNING},
    )
    waiting = trigger_naps(2, seconds=0.5)
    acknowledged = through + inside + waiting

    private_pg.stop(mode="immediate")
    outage_seen = time.monotonic()
    # The console's health report says what is wrong while it lasts.
    during = check_health()
    assert during.status == "down"
    assert not during.database.reachable
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_seen)))
    assert worker.alive()
    assert scheduler.alive()
    private_pg.start()

    after = trigger_naps(2, seconds=0.5)
    acknowledged += after
    wait_for(
        "every run to finish",
        lambda: set(statuses(acknowledged).values()) <= FINAL,
        timeout_s=40,
    )

    with session_scope() as session:
        runs = session.exec(select(Run).where(col(Run.run_id).in_(acknowledged))).all()
    assert {run.run_id: (run.status, run.attempts) for run in runs} == {
        run_id: (RunStatus.SUCCEEDED, 1) for run_id in acknowledged
    }
    assert audited_run_ids() == set(acknowledged)
    journal = executions(tmp_path / "journal.txt")
    assert {run_id: [event for event, _, _ in journal[run_id]] for run_id in acknowledged} == {
        run_id: ["start", "end"] for run_id in acknowledged
    }
    # Recovered by themselves: the same processes, beating again.
    assert worker.alive()
    assert scheduler.alive()
    wait_for("the worker and scheduler to heartbeat again", lambda: len(fresh_heartbeats()) >= 2)
    wait_for("the health report to recover", lambda: check_health().status != "down")
