"""What the console shows, read from the database as plain JSON-ready rows (no Reflex here)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from etl_orchestrator.db import db_now
from etl_orchestrator.models import Job, Run, RunAttempt, RunEvent
from etl_orchestrator.services import settings
from etl_orchestrator.services.run_actions import RETRYABLE
from etl_orchestrator.states import FINAL, HOLDS_SLOT, RunStatus
from etl_orchestrator.timeutil import iso

LATEST_RUNS = 20
COUNT_WINDOW = timedelta(hours=24)
EXCERPT_CHARS = 2000
#: A traceback is shown whole up to this size (then its end, where the error is).
TRACEBACK_CHARS = 10_000
#: A run's timeline is short (a few events per attempt); this bounds a pathological one.
MAX_EVENTS = 300
#: The order statuses are listed in: in flight first, then how runs end.
STATUS_ORDER = (
    RunStatus.RUNNING,
    RunStatus.DISPATCHED,
    RunStatus.QUEUED,
    RunStatus.WAITING,
    RunStatus.RETRYING,
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.CANCELLED,
    RunStatus.UPSTREAM_FAILED,
)


@dataclass
class StatusCount:
    status: str = ""
    count: int = 0


@dataclass
class RunRow:
    """One run in a list. Times are ISO 8601 UTC ("…Z"), or "" when not reached."""

    run_id: int = 0
    job_id: str = ""
    status: str = ""
    status_detail: str = ""
    trigger: str = ""
    dry_run: bool = False
    queued_at: str = ""
    ended_at: str = ""
    duration: str = ""


@dataclass
class Overview:
    counts: list[StatusCount] = field(default_factory=list)
    latest: list[RunRow] = field(default_factory=list)
    running: int = 0
    cap: int = 0


@dataclass
class AttemptRow:
    attempt: int = 0
    outcome: str = ""
    worker: str = ""
    started_at: str = ""
    ended_at: str = ""
    duration: str = ""
    error_class: str = ""
    error: str = ""
    #: The run drawer's detail: the error's type and whole message, and its traceback.
    error_type: str = ""
    error_message: str = ""
    traceback: str = ""


@dataclass
class TimelineRow:
    """One status change of a run (dw_etl_run_events); `wait` is the backoff wait of a retry."""

    ts: str = ""
    from_status: str = ""
    to_status: str = ""
    attempt: int = 0
    detail: str = ""
    actor: str = ""
    wait: str = ""


@dataclass
class RunSummary:
    """The run page's header; `found` is False for an unknown run id."""

    found: bool = False
    run_id: int = 0
    job_id: str = ""
    batch_id: str = ""
    status: str = ""
    status_detail: str = ""
    trigger: str = ""
    dry_run: bool = False
    requested_by: str = ""
    reason: str = ""
    attempts: int = 0
    max_attempts: int = 0
    queued_at: str = ""
    started_at: str = ""
    ended_at: str = ""
    next_attempt_at: str = ""
    duration: str = ""
    error_class: str = ""
    error_excerpt: str = ""
    attempt_rows: list[AttemptRow] = field(default_factory=list)
    # What the job page's run drawer adds: lineage, the timeline and what may be done next.
    records_read: str = ""
    records_written: str = ""
    affected_tables: list[str] = field(default_factory=list)
    checksum: str = ""
    params_json: str = ""
    retry_of: int = 0
    timeline: list[TimelineRow] = field(default_factory=list)
    can_retry: bool = False
    can_cancel: bool = False


def _ts(value: datetime | None) -> str:
    return iso(value) or ""


def format_duration(seconds: float | None) -> str:
    """ "850 ms", "12.3 s", "4 min 05 s", "2 h 07 min"; "" when unknown."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _excerpt(text: str | None) -> str:
    if not text:
        return ""
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + " …"


def run_row(run: Run) -> RunRow:
    return RunRow(
        run_id=run.run_id or 0,
        job_id=run.job_id,
        status=run.status,
        status_detail=run.status_detail,
        trigger=run.trigger,
        dry_run=run.dry_run,
        queued_at=_ts(run.queued_at),
        ended_at=_ts(run.ended_at),
        duration=format_duration(run.duration_s),
    )


def overview(session: Session) -> Overview:
    """Runs by status over the last 24 h (by queue time), the newest runs, and slot use."""
    now = db_now(session)
    cap = settings.parallel_jobs(session)
    by_status = dict(
        session.exec(
            select(Run.status, func.count())
            .where(col(Run.queued_at) >= now - COUNT_WINDOW)
            .group_by(col(Run.status))
        ).all()
    )
    running = session.exec(
        select(func.count()).select_from(Run).where(col(Run.status).in_(sorted(HOLDS_SLOT)))
    ).one()
    latest = session.exec(select(Run).order_by(col(Run.run_id).desc()).limit(LATEST_RUNS))
    return Overview(
        counts=[StatusCount(status=str(s), count=int(by_status.get(s, 0))) for s in STATUS_ORDER],
        latest=[run_row(run) for run in latest],
        running=int(running),
        cap=cap,
    )


def _tail(text: str | None, limit: int) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else "… " + text[-limit:]


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def timeline(session: Session, run_id: int) -> list[TimelineRow]:
    """A run's status changes, oldest first; a retry says how long its backoff wait was."""
    events = list(
        session.exec(
            select(RunEvent)
            .where(col(RunEvent.run_id) == run_id)
            .order_by(col(RunEvent.event_id))
            .limit(MAX_EVENTS)
        )
    )
    rows: list[TimelineRow] = []
    for i, event in enumerate(events):
        wait = ""
        if event.to_status == RunStatus.RETRYING:
            after = events[i + 1] if i + 1 < len(events) else None
            wait = (
                "waited " + format_duration((after.ts - event.ts).total_seconds())
                if after is not None
                else "waiting (backoff)"
            )
        rows.append(
            TimelineRow(
                ts=_ts(event.ts),
                from_status=event.from_status or "",
                to_status=event.to_status,
                attempt=event.attempt,
                detail=event.detail,
                actor=event.actor,
                wait=wait,
            )
        )
    return rows


def _attempt_row(attempt: RunAttempt) -> AttemptRow:
    error = ""
    if attempt.error_type or attempt.error_message:
        error = f"{attempt.error_type or 'Error'}: {attempt.error_message or ''}".strip()
    return AttemptRow(
        attempt=attempt.attempt,
        outcome=attempt.outcome or "running",
        worker=attempt.worker or "",
        started_at=_ts(attempt.started_at),
        ended_at=_ts(attempt.ended_at),
        duration=format_duration(attempt.duration_s),
        error_class=attempt.error_class or "",
        error=_excerpt(error),
        error_type=attempt.error_type or "",
        error_message=_tail(attempt.error_message, TRACEBACK_CHARS),
        traceback=_tail(attempt.traceback, TRACEBACK_CHARS),
    )


def run_summary(session: Session, run_id: int) -> RunSummary:
    run = session.get(Run, run_id)
    if run is None:
        return RunSummary(found=False, run_id=run_id)
    attempts = session.exec(
        select(RunAttempt).where(col(RunAttempt.run_id) == run_id).order_by(col(RunAttempt.attempt))
    )
    return RunSummary(
        found=True,
        run_id=run_id,
        job_id=run.job_id,
        batch_id=run.batch_id,
        status=run.status,
        status_detail=run.status_detail,
        trigger=run.trigger,
        dry_run=run.dry_run,
        requested_by=run.requested_by,
        reason=run.reason,
        attempts=run.attempts,
        max_attempts=run.max_attempts,
        queued_at=_ts(run.queued_at),
        started_at=_ts(run.started_at),
        ended_at=_ts(run.ended_at),
        next_attempt_at=_ts(run.next_attempt_at),
        duration=format_duration(run.duration_s),
        error_class=run.error_class or "",
        error_excerpt=_excerpt(run.error_excerpt),
        attempt_rows=[_attempt_row(a) for a in attempts],
        records_read=_count(run.records_read),
        records_written=_count(run.records_written),
        affected_tables=list(run.affected_tables or []),
        checksum=run.checksum or "",
        params_json=json.dumps(run.params or {}, indent=2, sort_keys=True, default=str),
        retry_of=run.retry_of or 0,
        timeline=timeline(session, run_id),
        can_retry=run.status in RETRYABLE,
        can_cancel=run.status not in FINAL,
    )


def runnable_jobs(session: Session) -> list[str]:
    """Job ids a person may trigger now: declared in code and enabled."""
    query = (
        select(Job.job_id)
        .where(col(Job.enabled) == True, col(Job.declared) == True)  # noqa: E712 - SQL
        .order_by(col(Job.job_id))
    )
    return list(session.exec(query))


def requesters(session: Session, run_ids: set[int]) -> dict[int, str]:
    """Who asked for each of these runs (requested_by); runs that no longer exist are left out."""
    if not run_ids:
        return {}
    rows = session.exec(
        select(Run.run_id, Run.requested_by).where(col(Run.run_id).in_(sorted(run_ids)))
    )
    return {int(run_id): requested_by for run_id, requested_by in rows if run_id is not None}
