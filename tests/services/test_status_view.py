"""The phone status page's lists: running now, failures of the last 24 h, next cron runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, Run, RunEvent
from etl_orchestrator.services import status_view

NOW = datetime(2026, 5, 2, 12, 0, tzinfo=UTC)


def test_status_lists_running_runs_recent_failures_and_upcoming_ticks(any_db: str) -> None:
    with session_scope() as session:
        session.add_all(
            [
                Job(job_id="a", name="a", next_run_at=NOW + timedelta(hours=2)),
                Job(job_id="b", name="b", next_run_at=NOW + timedelta(hours=1)),
                Job(job_id="off", name="off", enabled=False, next_run_at=NOW),
            ]
        )
        session.flush()

        def run(status: str, **fields: Any) -> Run:
            row = Run(job_id="a", batch_id="x", status=status, **fields)
            session.add(row)
            return row

        running = run("running", started_at=NOW)
        run("succeeded", ended_at=NOW)
        recent = run("failed", ended_at=NOW - timedelta(hours=1), error_class="permanent")
        old = run("failed", ended_at=NOW - timedelta(hours=25))
        session.flush()
        for failed in (recent, old):
            assert failed.ended_at is not None
            session.add(RunEvent(run_id=failed.run_id or 0, ts=failed.ended_at, to_status="failed"))
        session.flush()
        view = status_view.status_view(session, now=NOW)
        assert [r.run_id for r in view.running] == [running.run_id]
        assert view.running_total == 1
        assert [r.run_id for r in view.failures] == [recent.run_id]
        assert view.failures[0].note == "permanent"
        assert view.failures_total == 1
        assert [n.job_id for n in view.upcoming] == ["b", "a"]
