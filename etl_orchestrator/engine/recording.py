"""Database side of an attempt: claim it (fenced by its token), heartbeat, record the outcome."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlmodel import col

from etl_orchestrator.db import db_clock, db_now, remember_now, session_scope
from etl_orchestrator.engine.backoff import backoff_delay
from etl_orchestrator.models import Run, RunAttempt, WorkerRecord
from etl_orchestrator.states import JOBS, RUNS, Move, RunRef, RunStatus, transition_many
from etl_orchestrator.timeutil import as_utc

ATTEMPTS: Table = RunAttempt.metadata.tables["dw_etl_run_attempts"]

MAX_EXCERPT = 500
#: The columns an attempt's outcome fills in.
_ATTEMPT_RESULT = (
    "ended_at",
    "duration_s",
    "outcome",
    "error_class",
    "error_type",
    "error_message",
    "traceback",
    "records_read",
    "records_written",
)


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


#: One arq delivery: (run id, attempt number, attempt token).
Delivery = tuple[int, int, str]


def claim(run_id: int, attempt: int, token: str, worker_id: str) -> Claimed | None:
    """Move the run to running if this delivery is still the current one; None if stale."""
    return claim_many([(run_id, attempt, token)], worker_id)[0]


def claim_many(deliveries: Sequence[Delivery], worker_id: str) -> list[Claimed | None]:
    """Claim deliveries in one transaction: a Claimed for each current one, None for a stale one.

    Each is fenced on its own (status, attempt and token still match), so a duplicate delivery in
    the same group loses to the first.
    """
    claimed: list[Claimed | None] = [None] * len(deliveries)
    if not deliveries:
        return claimed
    with session_scope() as session:
        query = (
            select(
                *_CLAIM_COLUMNS,
                JOBS.c.timeout_s,
                JOBS.c.backoff_base_s,
                JOBS.c.backoff_factor,
                JOBS.c.backoff_max_s,
                JOBS.c.backoff_jitter,
                db_clock(session).label("db_now"),
            )
            .join_from(RUNS, JOBS, JOBS.c.job_id == RUNS.c.job_id, isouter=True)
            .where(RUNS.c.run_id.in_(sorted({run_id for run_id, _, _ in deliveries})))
        )
        rows = {row.run_id: row for row in session.execute(query)}
        if not rows:
            return claimed
        # The clock came with the rows: one round trip fewer on the hottest path.
        now = remember_now(session, next(iter(rows.values())).db_now)
        current = [
            (index, rows[run_id])
            for index, (run_id, attempt, token) in enumerate(deliveries)
            if run_id in rows
            and rows[run_id].status == RunStatus.DISPATCHED
            and rows[run_id].attempt_token == token
            and rows[run_id].attempts == attempt
        ]
        moves = [
            Move(
                RunRef(**row._mapping),
                RunStatus.RUNNING,
                detail=f"attempt {row.attempts} of {row.max_attempts} on {worker_id}",
                token=row.attempt_token,
                fields={
                    "started_at": row.started_at or now,
                    "heartbeat_at": now,
                    "worker": worker_id,
                },
            )
            for _, row in current
        ]
        started: list[dict[str, Any]] = []
        for (index, row), moved in zip(current, transition_many(session, moves), strict=True):
            if moved:
                claimed[index] = _claimed(row, now)
                started.append({"_run": row.run_id, "_attempt": row.attempts})
        if started:
            session.execute(
                update(ATTEMPTS)
                .where(
                    ATTEMPTS.c.run_id == bindparam("_run"),
                    ATTEMPTS.c.attempt == bindparam("_attempt"),
                )
                .values(started_at=now, worker=worker_id),
                started,
            )
    return claimed


def _claimed(row: Any, now: datetime) -> Claimed:
    return Claimed(
        run_id=row.run_id,
        job_id=row.job_id,
        batch_id=row.batch_id,
        attempt=row.attempts,
        token=row.attempt_token,
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


def _attempt_row(claimed: Claimed, outcome: Outcome, now: datetime) -> dict[str, Any]:
    lineage = outcome.lineage or {}
    return {
        "_run": claimed.run_id,
        "_attempt": claimed.attempt,
        "ended_at": now,
        "duration_s": (now - claimed.attempt_started_at).total_seconds(),
        "outcome": outcome.outcome,
        "error_class": outcome.error_class,
        "error_type": outcome.error_type,
        "error_message": outcome.error_message,
        "traceback": outcome.traceback,
        "records_read": lineage.get("records_read"),
        "records_written": lineage.get("records_written"),
    }


#: Closes attempt rows, unless something (the reaper) closed them already.
_CLOSE_ATTEMPT = (
    update(ATTEMPTS)
    .where(
        ATTEMPTS.c.run_id == bindparam("_run"),
        ATTEMPTS.c.attempt == bindparam("_attempt"),
        ATTEMPTS.c.outcome.is_(None),
    )
    .values({key: bindparam(key) for key in _ATTEMPT_RESULT})
)


def record_outcome(claimed: Claimed, outcome: Outcome, *, rng: random.Random | None = None) -> str:
    """Write the attempt and move the run on; returns the run's new status."""
    return record_outcomes([(claimed, outcome)], rng=rng)[0]


def record_outcomes(
    finished: Sequence[tuple[Claimed, Outcome]], *, rng: random.Random | None = None
) -> list[str]:
    """Write attempts and move their runs on in one transaction; each run's new status.

    If a run was moved on meanwhile (cancelled, or reaped), only its attempt row is written: the
    transition is fenced by the attempt's token, so it needs no read of the run first.
    """
    if not finished:
        return []
    with session_scope() as session:
        now = db_now(session)
        session.execute(
            _CLOSE_ATTEMPT, [_attempt_row(claimed, outcome, now) for claimed, outcome in finished]
        )
        moves = [_next_move(claimed, outcome, now, rng) for claimed, outcome in finished]
        moved = transition_many(session, moves)
        pairs = list(zip(moves, moved, strict=True))
        stale = sorted({move.run.run_id or 0 for move, ok in pairs if not ok})
        found: dict[int, str] = {}
        if stale:
            query = select(RUNS.c.run_id, RUNS.c.status).where(RUNS.c.run_id.in_(stale))
            found = {row.run_id: row.status for row in session.execute(query)}
    return [
        str(move.to) if ok else str(found.get(move.run.run_id or 0, "missing"))
        for move, ok in pairs
    ]


def _next_move(
    claimed: Claimed, outcome: Outcome, now: datetime, rng: random.Random | None
) -> Move:
    """Where the attempt's outcome takes its run: done, cancelled, retrying, or failed."""
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
        return Move(
            run,
            RunStatus.SUCCEEDED,
            detail=f"attempt {claimed.attempt} succeeded",
            token=claimed.token,
            fields={
                "duration_s": duration,
                "records_read": lineage.get("records_read"),
                "records_written": lineage.get("records_written"),
                "affected_tables": list(lineage.get("affected_tables") or []),
                "checksum": lineage.get("checksum"),
                "error_class": None,
                "error_excerpt": None,
                "heartbeat_at": None,
            },
        )
    if outcome.outcome == "cancelled":
        return Move(
            run,
            RunStatus.CANCELLED,
            detail="cancelled while running",
            token=claimed.token,
            fields={"duration_s": duration, "heartbeat_at": None},
        )
    excerpt = _excerpt(outcome)
    if outcome.error_class == "transient" and claimed.attempt < claimed.max_attempts:
        base_s, factor, max_s, jitter = claimed.backoff
        delay = backoff_delay(
            claimed.attempt, base_s=base_s, factor=factor, max_s=max_s, jitter=jitter, rng=rng
        )
        return Move(
            run,
            RunStatus.RETRYING,
            detail=(
                f"attempt {claimed.attempt} of {claimed.max_attempts} {outcome.outcome} "
                f"(transient): next attempt in {delay:.1f} s"
            ),
            token=claimed.token,
            fields={
                "next_attempt_at": now + timedelta(seconds=delay),
                "error_class": outcome.error_class,
                "error_excerpt": excerpt,
                "heartbeat_at": None,
            },
        )
    why = "permanent error" if outcome.error_class == "permanent" else "attempts exhausted"
    return Move(
        run,
        RunStatus.FAILED,
        detail=f"attempt {claimed.attempt} of {claimed.max_attempts} {outcome.outcome}: {why}",
        token=claimed.token,
        fields={
            "duration_s": duration,
            "error_class": outcome.error_class,
            "error_excerpt": excerpt,
            "heartbeat_at": None,
        },
    )


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
