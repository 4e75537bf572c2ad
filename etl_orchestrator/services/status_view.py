"""The phone status page's figures: runs going now, failures of the last 24 h, next cron runs.

Each list is short and bounded, so the page stays small and fast on a phone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from etl_orchestrator.db import db_now
from etl_orchestrator.models import Job, Run, RunEvent
from etl_orchestrator.states import HOLDS_SLOT, RunStatus
from etl_orchestrator.timeutil import iso
from etl_orchestrator.web.snapshots import format_duration

FAILURE_WINDOW = timedelta(hours=24)
LIST_LIMIT = 10


@dataclass
class StatusRun:
    run_id: int = 0
    job_id: str = ""
    status: str = ""
    #: started_at for running runs, ended_at for failures (ISO 8601 UTC or "").
    at: str = ""
    note: str = ""


@dataclass
class NextRun:
    job_id: str = ""
    at: str = ""


@dataclass
class StatusView:
    running: list[StatusRun] = field(default_factory=list)
    running_total: int = 0
    failures: list[StatusRun] = field(default_factory=list)
    failures_total: int = 0
    upcoming: list[NextRun] = field(default_factory=list)


def status_view(session: Session, *, now: datetime | None = None) -> StatusView:
    now = now or db_now(session)
    active = col(Run.status).in_(sorted(HOLDS_SLOT))
    running = session.exec(select(Run).where(active).order_by(col(Run.run_id)).limit(LIST_LIMIT))
    running_total = session.exec(select(func.count()).select_from(Run).where(active)).one()
    # Runs that failed in the window, found through their timeline events (indexed by time):
    # the runs table has no index on ended_at, and this page must stay fast at any size.
    failed_lately = select(RunEvent.run_id).where(
        col(RunEvent.ts) >= now - FAILURE_WINDOW, col(RunEvent.to_status) == RunStatus.FAILED
    )
    failed = (col(Run.run_id).in_(failed_lately)) & (col(Run.status) == RunStatus.FAILED)
    failures = session.exec(
        select(Run).where(failed).order_by(col(Run.ended_at).desc()).limit(LIST_LIMIT)
    )
    failures_total = session.exec(select(func.count()).select_from(Run).where(failed)).one()
    upcoming = session.exec(
        select(Job.job_id, Job.next_run_at)
        .where(
            col(Job.next_run_at).is_not(None),
            col(Job.enabled) == True,  # noqa: E712 - SQL
            col(Job.declared) == True,  # noqa: E712 - SQL
        )
        .order_by(col(Job.next_run_at), col(Job.job_id))
        .limit(LIST_LIMIT)
    )
    return StatusView(
        running=[
            StatusRun(
                run_id=run.run_id or 0,
                job_id=run.job_id,
                status=run.status,
                at=iso(run.started_at or run.dispatched_at) or "",
                note="dry run" if run.dry_run else "",
            )
            for run in running
        ],
        running_total=int(running_total),
        failures=[
            StatusRun(
                run_id=run.run_id or 0,
                job_id=run.job_id,
                status=run.status,
                at=iso(run.ended_at) or "",
                note=(run.error_class or "")
                + (f" after {format_duration(run.duration_s)}" if run.duration_s else ""),
            )
            for run in failures
        ],
        failures_total=int(failures_total),
        upcoming=[NextRun(job_id=job_id, at=iso(at) or "") for job_id, at in upcoming],
    )
