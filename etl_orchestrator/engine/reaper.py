"""The reaper: recovers attempts whose worker died (heartbeat lease expired) or were never claimed.

The scheduler runs it every few seconds. Each pass, in one transaction, on the database clock
(so a host whose own clock is off is never reaped while it heartbeats):

- a `running` run whose heartbeat is older than the lease (`ETL_HEARTBEAT_LEASE_S`, default
  30 s; workers beat every 5 s): its attempt is recorded `crashed` (transient) and the run goes
  to `retrying` at once if attempts remain, else to `failed`. A worker's death counts as an
  attempt, as any crash does: a job that kills its worker every time must not loop forever.
- a `dispatched` run no worker claimed within `ETL_CLAIM_TIMEOUT_S` (default 30 s) while some
  worker was alive: its queue entry was lost (Redis flushed or restarted empty). Its attempt is
  recorded `crashed` and the run is dispatched again with a new attempt number and token; the
  caller enqueues the returned dispatches. This is infrastructure trouble, not the job's, so it
  does not use up the job's attempts: the run's max_attempts grows by one with each such
  re-dispatch. With no live worker nothing is re-dispatched (there is nobody to claim it).
- a `cancelled` run whose attempt is still open after the lease: its worker died before it could
  confirm the kill, so the attempt is closed as `cancelled` here.

Runs whose fencing token changed meanwhile are skipped (conditional updates), so two reapers, or
a reaper racing a worker that records its result, never both act on the same attempt.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from datetime import datetime, timedelta

from arq.connections import ArqRedis
from sqlalchemy import func, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from etl_orchestrator.config import ConfigError
from etl_orchestrator.db import db_now, session_scope
from etl_orchestrator.engine.dispatch import Dispatch, dispatch_run
from etl_orchestrator.engine.dispatcher import enqueue
from etl_orchestrator.engine.leader import SCHEDULER_PREFIX
from etl_orchestrator.models import Run, RunAttempt, WorkerRecord
from etl_orchestrator.states import RUNS, RunStatus, StaleTransition, transition

log = logging.getLogger(__name__)

LEASE_ENV = "ETL_HEARTBEAT_LEASE_S"
CLAIM_TIMEOUT_ENV = "ETL_CLAIM_TIMEOUT_S"
DEFAULT_LEASE_S = 30.0
DEFAULT_CLAIM_TIMEOUT_S = 30.0
#: Runs handled per kind and pass; the next pass, seconds later, takes the rest.
BATCH = 200
WORKER_LOST = "etl_orchestrator.engine.WorkerLost"
DELIVERY_LOST = "etl_orchestrator.engine.DeliveryLost"
CANCEL_UNCONFIRMED = "etl_orchestrator.jobs.errors.CancelledByUser"


def _seconds_from_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name}={raw!r} is invalid: must be a number of seconds above 0")
    return value


def lease_s() -> float:
    """How long a running attempt may go without a heartbeat before it is presumed dead."""
    return _seconds_from_env(LEASE_ENV, DEFAULT_LEASE_S)


def claim_timeout_s() -> float:
    """How long a dispatched attempt may wait for a worker before its delivery is presumed lost."""
    return _seconds_from_env(CLAIM_TIMEOUT_ENV, DEFAULT_CLAIM_TIMEOUT_S)


def _close_attempt(
    session: Session,
    run_id: int,
    attempt: int,
    now: datetime,
    *,
    outcome: str,
    error_type: str,
    message: str,
    error_class: str | None = "transient",
) -> None:
    row = session.get(RunAttempt, (run_id, attempt))
    if row is None or row.outcome is not None:
        return
    row.outcome = outcome
    row.ended_at = now
    row.duration_s = (now - row.started_at).total_seconds() if row.started_at else None
    row.error_class = error_class
    row.error_type = error_type
    row.error_message = message
    session.add(row)


def _expire_leases(session: Session, now: datetime, lease: float) -> int:
    cutoff = now - timedelta(seconds=lease)
    last_sign = func.coalesce(col(Run.heartbeat_at), col(Run.started_at), col(Run.dispatched_at))
    stale = session.exec(
        select(Run)
        .where(col(Run.status) == RunStatus.RUNNING, last_sign < cutoff)
        .order_by(col(Run.run_id))
        .limit(BATCH)
    ).all()
    reaped = 0
    for run in stale:
        attempt, token, worker = run.attempts, run.attempt_token, run.worker or "?"
        message = f"worker {worker} stopped heartbeating (lease of {lease:g} s expired)"
        excerpt = f"WorkerLost: {message}"
        try:
            if attempt < run.max_attempts:
                transition(
                    session,
                    run,
                    RunStatus.RETRYING,
                    token=token,
                    detail=(
                        f"attempt {attempt} of {run.max_attempts} crashed (transient): {message}; "
                        "next attempt now"
                    ),
                    next_attempt_at=now,
                    error_class="transient",
                    error_excerpt=excerpt,
                    heartbeat_at=None,
                )
            else:
                transition(
                    session,
                    run,
                    RunStatus.FAILED,
                    token=token,
                    detail=(
                        f"attempt {attempt} of {run.max_attempts} crashed: {message}; "
                        "attempts exhausted"
                    ),
                    duration_s=(now - run.started_at).total_seconds() if run.started_at else None,
                    error_class="transient",
                    error_excerpt=excerpt,
                    heartbeat_at=None,
                )
        except StaleTransition:
            continue  # the worker recorded its result, or another reaper was first
        _close_attempt(
            session,
            run.run_id or 0,
            attempt,
            now,
            outcome="crashed",
            error_type=WORKER_LOST,
            message=message,
        )
        log.warning("run %s attempt %s: %s -> %s", run.run_id, attempt, message, run.status)
        reaped += 1
    return reaped


def _some_worker_alive_since(session: Session, now: datetime, lease: float) -> datetime | None:
    """When the longest-lived live worker started (None if no worker heartbeats).

    Schedulers keep rows in the same registry; they claim nothing, so they do not count.
    """
    return session.exec(
        select(func.min(WorkerRecord.started_at)).where(
            col(WorkerRecord.stopped_at).is_(None),
            col(WorkerRecord.last_heartbeat_at) >= now - timedelta(seconds=lease),
            ~col(WorkerRecord.worker_id).startswith(SCHEDULER_PREFIX),
        )
    ).one()


def _redispatch_unclaimed(
    session: Session, now: datetime, timeout: float, lease: float
) -> list[Dispatch]:
    cutoff = now - timedelta(seconds=timeout)
    alive_since = _some_worker_alive_since(session, now, lease)
    # Lost only if a worker was up the whole time: it would have claimed the entry in ms.
    if alive_since is None or alive_since > cutoff:
        return []
    unclaimed = session.exec(
        select(Run)
        .where(col(Run.status) == RunStatus.DISPATCHED, col(Run.dispatched_at) < cutoff)
        .order_by(col(Run.run_id))
        .limit(BATCH)
    ).all()
    dispatches: list[Dispatch] = []
    for run in unclaimed:
        attempt, token = run.attempts, run.attempt_token
        budget = run.max_attempts + 1
        # Fenced like a transition: a worker claiming it now wins, and this run is skipped.
        moved = session.execute(
            update(RUNS)
            .where(
                RUNS.c.run_id == run.run_id,
                RUNS.c.status == RunStatus.DISPATCHED,
                RUNS.c.attempt_token == token,
            )
            .values(max_attempts=budget)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            continue
        set_committed_value(run, "max_attempts", budget)
        dispatch = dispatch_run(session, run)
        if dispatch is None:
            continue
        _close_attempt(
            session,
            run.run_id or 0,
            attempt,
            now,
            outcome="crashed",
            error_type=DELIVERY_LOST,
            message=(
                f"no worker claimed it within {timeout:g} s: its queue entry was lost; "
                f"dispatched again as attempt {dispatch.attempt} (not counted against the job)"
            ),
        )
        log.warning("run %s attempt %s was never claimed: re-dispatched", run.run_id, attempt)
        dispatches.append(dispatch)
    return dispatches


def _close_unconfirmed_cancels(session: Session, now: datetime, lease: float) -> None:
    cutoff = now - timedelta(seconds=lease)
    last_sign = func.coalesce(col(Run.heartbeat_at), col(Run.started_at), col(Run.ended_at))
    rows = session.exec(
        select(Run.run_id, Run.attempts, Run.worker)
        .join(
            RunAttempt,
            (col(RunAttempt.run_id) == col(Run.run_id))
            & (col(RunAttempt.attempt) == col(Run.attempts)),
        )
        .where(
            col(Run.status) == RunStatus.CANCELLED,
            col(RunAttempt.outcome).is_(None),
            last_sign < cutoff,
        )
        .limit(BATCH)
    ).all()
    for run_id, attempt, worker in rows:
        _close_attempt(
            session,
            run_id or 0,
            attempt,
            now,
            outcome="cancelled",
            error_class=None,
            error_type=CANCEL_UNCONFIRMED,
            message=f"the run was cancelled; its worker {worker} stopped before confirming",
        )


def reap_pass(
    session: Session,
    *,
    lease: float | None = None,
    claim_timeout: float | None = None,
    recover: bool = True,
) -> list[Dispatch]:
    """One reaper pass in the caller's transaction; enqueue the returned dispatches after commit.

    `lease` and `claim_timeout` default to ETL_HEARTBEAT_LEASE_S and ETL_CLAIM_TIMEOUT_S.
    `recover=False` only tidies attempts (see Reaper: a grace period after an outage).
    """
    lease = lease_s() if lease is None else lease
    claim_timeout = claim_timeout_s() if claim_timeout is None else claim_timeout
    now = db_now(session)
    dispatches: list[Dispatch] = []
    if recover:
        _expire_leases(session, now, lease)
        dispatches = _redispatch_unclaimed(session, now, claim_timeout, lease)
    _close_unconfirmed_cancels(session, now, lease)
    return dispatches


class Reaper:
    """Runs reaper passes, each in its own transaction, for the scheduler's loop.

    When its own passes stopped for longer than the lease (the database was unreachable, or
    this process was paused), the workers most likely could not heartbeat either: it then gives
    them one lease to heartbeat again before it treats a silent attempt as dead.
    """

    def __init__(self) -> None:
        # A bad setting stops the scheduler at start, not at its first pass.
        lease_s()
        claim_timeout_s()
        self._last_pass: float | None = None
        self._grace_until = 0.0

    def run_once(self) -> list[Dispatch]:
        """A pass in its own transaction; the caller enqueues the returned dispatches."""
        lease = lease_s()
        started = time.monotonic()
        if self._last_pass is not None and started - self._last_pass > lease:
            log.warning(
                "reaper: no pass for %.0f s; giving workers %g s to heartbeat before reaping",
                started - self._last_pass,
                lease,
            )
            self._grace_until = started + lease
        with session_scope() as session:
            dispatches = reap_pass(session, lease=lease, recover=started >= self._grace_until)
        self._last_pass = time.monotonic()
        return dispatches

    async def run_and_enqueue(self, pool: ArqRedis) -> list[Dispatch]:
        """run_once in a thread, then enqueue its dispatches in arq."""
        dispatches = await asyncio.to_thread(self.run_once)
        if dispatches:
            await enqueue(pool, dispatches)
        return dispatches
