"""Database side of an attempt: claim it (fenced by its token), heartbeat, record the outcome."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, select, update
from sqlmodel import Session, col

from etl_orchestrator.db import db_clock, db_now, remember_now, session_scope
from etl_orchestrator.engine.backoff import backoff_delay
from etl_orchestrator.models import Run, RunAttempt, WorkerRecord
from etl_orchestrator.states import JOBS, RUNS, RunRef, RunStatus, StaleTransition, transition
from etl_orchestrator.timeutil import as_utc

ATTEMPTS: Table = RunAttempt.metadata.tables["dw_etl_run_attempts"]

MAX_EXCERPT = 500


@dataclass(frozen=True)
class Claimed:
    run_id: int
    job_id: str
    batch_id: str
    attempt: int
    token: str
    max_attempts: int
    params: dict[str, Any]
    dry_run: bool
    scheduled_for: datetime | None
    timeout_s: float
    #: When the run's first attempt started, and when this one did (database clock).
    run_started_at: datetime
    attempt_started_at: datetime
    #: The job's backoff, read with the claim so that the outcome needs no read of its own.
    backoff: tuple[float, float, float, float] = (2.0, 2.0, 60.0, 0.2)


_CLAIM_COLUMNS = (
    RUNS.c.run_id,
    RUNS.c.job_id,
    RUNS.c.batch_id,
    RUNS.c.status,
    RUNS.c.attempts,
    RUNS.c.attempt_token,
    RUNS.c.max_attempts,
    RUNS.c.dry_run,
    RUNS.c.params,
    RUNS.c.scheduled_for,
    RUNS.c.started_at,
    RUNS.c.duration_s,
    RUNS.c.ended_at,
)


def _read_run(session: Session, run_id: int, *extra: Any) -> Any:
    query = select(*_CLAIM_COLUMNS, *extra).where(RUNS.c.run_id == run_id)
    if extra:
        query = query.join_from(RUNS, JOBS, JOBS.c.job_id == RUNS.c.job_id, isouter=True)
    return session.execute(query).first()


def claim(run_id: int, attempt: int, token: str, worker_id: str) -> Claimed | None:
    """Move the run to running if this delivery is still the current one; None if stale."""
    with session_scope() as session:
        row = _read_run(
            session,
            run_id,
            JOBS.c.timeout_s,
            JOBS.c.backoff_base_s,
            JOBS.c.backoff_factor,
            JOBS.c.backoff_max_s,
            JOBS.c.backoff_jitter,
            db_clock(session).label("db_now"),
        )
        if (
            row is None
            or row.status != RunStatus.DISPATCHED
            or row.attempt_token != token
            or row.attempts != attempt
        ):
            return None
        # The clock came with the row: one round trip fewer on the hottest path.
        now = remember_now(session, row.db_now)
        run = RunRef(**row._mapping)
        try:
            transition(
                session,
                run,
                RunStatus.RUNNING,
                token=token,
                detail=f"attempt {attempt} of {row.max_attempts} on {worker_id}",
                started_at=row.started_at or now,
                heartbeat_at=now,
                worker=worker_id,
            )
        except StaleTransition:
            return None
        session.execute(
            update(ATTEMPTS)
            .where(ATTEMPTS.c.run_id == run_id, ATTEMPTS.c.attempt == attempt)
            .values(started_at=now, worker=worker_id)
        )
        return Claimed(
            run_id=run_id,
            job_id=row.job_id,
            batch_id=row.batch_id,
            attempt=attempt,
            token=token,
            max_attempts=row.max_attempts,
            params=dict(row.params or {}),
            dry_run=row.dry_run,
            scheduled_for=row.scheduled_for,
            timeout_s=row.timeout_s if row.timeout_s is not None else 3600.0,
            run_started_at=as_utc(row.started_at or now),
            attempt_started_at=now,
            backoff=(
                _or(row.backoff_base_s, 2.0),
                _or(row.backoff_factor, 2.0),
                _or(row.backoff_max_s, 60.0),
                _or(row.backoff_jitter, 0.2),
            ),
        )


@dataclass(frozen=True)
class Outcome:
    """What happened to an attempt, as the worker saw it."""

    outcome: str  # succeeded | failed | timeout | crashed | cancelled
    error_class: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    lineage: dict[str, Any] | None = None


def _excerpt(outcome: Outcome) -> str | None:
    if outcome.error_message is None:
        return None
    kind = (outcome.error_type or "").rsplit(".", 1)[-1]
    text = f"{kind}: {outcome.error_message}" if kind else outcome.error_message
    return text[:MAX_EXCERPT]


def _write_attempt(session: Session, claimed: Claimed, outcome: Outcome, now: datetime) -> None:
    """Close the attempt row, unless something (the reaper) closed it already."""
    lineage = outcome.lineage or {}
    session.execute(
        update(ATTEMPTS)
        .where(
            ATTEMPTS.c.run_id == claimed.run_id,
            ATTEMPTS.c.attempt == claimed.attempt,
            ATTEMPTS.c.outcome.is_(None),
        )
        .values(
            ended_at=now,
            duration_s=(now - claimed.attempt_started_at).total_seconds(),
            outcome=outcome.outcome,
            error_class=outcome.error_class,
            error_type=outcome.error_type,
            error_message=outcome.error_message,
            traceback=outcome.traceback,
            records_read=lineage.get("records_read"),
            records_written=lineage.get("records_written"),
        )
    )


def record_outcome(claimed: Claimed, outcome: Outcome, *, rng: random.Random | None = None) -> str:
    """Write the attempt and move the run on; returns the run's new status.

    If the run was moved on meanwhile (cancelled, or reaped), only the attempt row is written:
    the transition is fenced by the attempt's token, so it needs no read of the run first.
    """
    with session_scope() as session:
        now = db_now(session)
        _write_attempt(session, claimed, outcome, now)
        try:
            return _move_on(session, claimed, outcome, now, rng)
        except StaleTransition:
            row = session.execute(
                select(RUNS.c.status).where(RUNS.c.run_id == claimed.run_id)
            ).first()
            return "missing" if row is None else str(row.status)


def _move_on(
    session: Session,
    claimed: Claimed,
    outcome: Outcome,
    now: datetime,
    rng: random.Random | None,
) -> str:
    run = RunRef(
        run_id=claimed.run_id,
        job_id=claimed.job_id,
        batch_id=claimed.batch_id,
        status=RunStatus.RUNNING,
        attempts=claimed.attempt,
        dry_run=claimed.dry_run,
        duration_s=None,
        ended_at=None,
    )
    lineage = outcome.lineage or {}
    duration = (now - claimed.run_started_at).total_seconds()
    if outcome.outcome == "succeeded":
        transition(
            session,
            run,
            RunStatus.SUCCEEDED,
            token=claimed.token,
            detail=f"attempt {claimed.attempt} succeeded",
            duration_s=duration,
            records_read=lineage.get("records_read"),
            records_written=lineage.get("records_written"),
            affected_tables=list(lineage.get("affected_tables") or []),
            checksum=lineage.get("checksum"),
            error_class=None,
            error_excerpt=None,
            heartbeat_at=None,
        )
        return run.status
    if outcome.outcome == "cancelled":
        transition(
            session,
            run,
            RunStatus.CANCELLED,
            token=claimed.token,
            detail="cancelled while running",
            duration_s=duration,
            heartbeat_at=None,
        )
        return run.status
    excerpt = _excerpt(outcome)
    if outcome.error_class == "transient" and claimed.attempt < claimed.max_attempts:
        base_s, factor, max_s, jitter = claimed.backoff
        delay = backoff_delay(
            claimed.attempt, base_s=base_s, factor=factor, max_s=max_s, jitter=jitter, rng=rng
        )
        transition(
            session,
            run,
            RunStatus.RETRYING,
            token=claimed.token,
            detail=(
                f"attempt {claimed.attempt} of {claimed.max_attempts} {outcome.outcome} "
                f"(transient): next attempt in {delay:.1f} s"
            ),
            next_attempt_at=now + timedelta(seconds=delay),
            error_class=outcome.error_class,
            error_excerpt=excerpt,
            heartbeat_at=None,
        )
        return run.status
    why = "permanent error" if outcome.error_class == "permanent" else "attempts exhausted"
    transition(
        session,
        run,
        RunStatus.FAILED,
        token=claimed.token,
        detail=f"attempt {claimed.attempt} of {claimed.max_attempts} {outcome.outcome}: {why}",
        duration_s=duration,
        error_class=outcome.error_class,
        error_excerpt=excerpt,
        heartbeat_at=None,
    )
    return run.status


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def heartbeat(worker_id: str, host: str, pid: int, run_ids: list[int]) -> None:
    """The worker, not the job, proves each running attempt is alive (database clock)."""
    with session_scope() as session:
        now = db_now(session)
        if run_ids:
            session.execute(
                update(Run)
                .where(col(Run.run_id).in_(run_ids), col(Run.status) == RunStatus.RUNNING)
                .values(heartbeat_at=now)
            )
        record = session.get(WorkerRecord, worker_id)
        if record is None:
            record = WorkerRecord(worker_id=worker_id, host=host, pid=pid, started_at=now)
        record.last_heartbeat_at = now
        record.running = len(run_ids)
        record.stopped_at = None
        session.add(record)


def worker_stopped(worker_id: str) -> None:
    with session_scope() as session:
        record = session.get(WorkerRecord, worker_id)
        if record is not None:
            record.stopped_at = db_now(session)
            record.running = 0
            session.add(record)
