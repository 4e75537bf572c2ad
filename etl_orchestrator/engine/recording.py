"""Database side of an attempt: claim it (fenced by its token), heartbeat, record the outcome."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from etl_orchestrator.db import db_now, session_scope
from etl_orchestrator.engine.backoff import backoff_delay
from etl_orchestrator.models import Job, Run, RunAttempt, WorkerRecord
from etl_orchestrator.states import RunStatus, StaleTransition, transition

MAX_EXCERPT = 500


@dataclass(frozen=True)
class Claimed:
    run_id: int
    job_id: str
    attempt: int
    token: str
    max_attempts: int
    params: dict[str, Any]
    dry_run: bool
    scheduled_for: datetime | None
    timeout_s: float


def claim(run_id: int, attempt: int, token: str, worker_id: str) -> Claimed | None:
    """Move the run to running if this delivery is still the current one; None if stale."""
    with session_scope() as session:
        run = session.get(Run, run_id)
        if (
            run is None
            or run.status != RunStatus.DISPATCHED
            or run.attempt_token != token
            or run.attempts != attempt
        ):
            return None
        job = session.get(Job, run.job_id)
        now = db_now(session)
        try:
            transition(
                session,
                run,
                RunStatus.RUNNING,
                token=token,
                detail=f"attempt {attempt} of {run.max_attempts} on {worker_id}",
                started_at=run.started_at or now,
                heartbeat_at=now,
                worker=worker_id,
            )
        except StaleTransition:
            return None
        session.execute(
            update(RunAttempt)
            .where(col(RunAttempt.run_id) == run_id, col(RunAttempt.attempt) == attempt)
            .values(started_at=now, worker=worker_id)
        )
        return Claimed(
            run_id=run_id,
            job_id=run.job_id,
            attempt=attempt,
            token=token,
            max_attempts=run.max_attempts,
            params=dict(run.params or {}),
            dry_run=run.dry_run,
            scheduled_for=run.scheduled_for,
            timeout_s=job.timeout_s if job else 3600.0,
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


def record_outcome(claimed: Claimed, outcome: Outcome, *, rng: random.Random | None = None) -> str:
    """Write the attempt and move the run on; returns the run's new status.

    If the run was moved on meanwhile (cancelled, or reaped), only the attempt row is written.
    """
    with session_scope() as session:
        now = db_now(session)
        attempt_row = session.get(RunAttempt, (claimed.run_id, claimed.attempt))
        lineage = outcome.lineage or {}
        if attempt_row is not None and attempt_row.outcome is None:
            started = attempt_row.started_at or now
            attempt_row.ended_at = now
            attempt_row.duration_s = (now - started).total_seconds()
            attempt_row.outcome = outcome.outcome
            attempt_row.error_class = outcome.error_class
            attempt_row.error_type = outcome.error_type
            attempt_row.error_message = outcome.error_message
            attempt_row.traceback = outcome.traceback
            attempt_row.records_read = lineage.get("records_read")
            attempt_row.records_written = lineage.get("records_written")
            session.add(attempt_row)
        run = session.get(Run, claimed.run_id)
        if run is None:
            return "missing"
        if run.status != RunStatus.RUNNING or run.attempt_token != claimed.token:
            return run.status
        duration = (now - (run.started_at or now)).total_seconds()
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
        if outcome.error_class == "transient" and claimed.attempt < run.max_attempts:
            job = session.get(Job, run.job_id)
            delay = backoff_delay(
                claimed.attempt,
                base_s=job.backoff_base_s if job else 2.0,
                factor=job.backoff_factor if job else 2.0,
                max_s=job.backoff_max_s if job else 60.0,
                jitter=job.backoff_jitter if job else 0.2,
                rng=rng,
            )
            transition(
                session,
                run,
                RunStatus.RETRYING,
                token=claimed.token,
                detail=(
                    f"attempt {claimed.attempt} of {run.max_attempts} {outcome.outcome} "
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
            detail=f"attempt {claimed.attempt} of {run.max_attempts} {outcome.outcome}: {why}",
            duration_s=duration,
            error_class=outcome.error_class,
            error_excerpt=excerpt,
            heartbeat_at=None,
        )
        return run.status


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
