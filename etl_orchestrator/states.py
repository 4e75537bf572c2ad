"""Run states, the allowed edges between them, and the one transition() every status change uses."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from etl_orchestrator.db import db_now, queue_event
from etl_orchestrator.models import Job, Run, RunEvent
from etl_orchestrator.timeutil import iso


class RunStatus(StrEnum):
    QUEUED = "queued"
    WAITING = "waiting"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UPSTREAM_FAILED = "upstream_failed"


S = RunStatus
FINAL: frozenset[str] = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED, S.UPSTREAM_FAILED})
#: Runs that hold one of the ETL_PARALLEL_JOBS slots.
HOLDS_SLOT: frozenset[str] = frozenset({S.DISPATCHED, S.RUNNING})
#: Runs the dispatcher may still start.
PENDING: frozenset[str] = frozenset({S.QUEUED, S.WAITING, S.RETRYING})

ALLOWED: dict[str, frozenset[str]] = {
    S.QUEUED: frozenset({S.WAITING, S.DISPATCHED, S.CANCELLED, S.UPSTREAM_FAILED}),
    S.WAITING: frozenset({S.QUEUED, S.DISPATCHED, S.CANCELLED, S.UPSTREAM_FAILED}),
    # dispatched -> retrying/failed/dispatched: the arq job was lost before a worker claimed it.
    S.DISPATCHED: frozenset({S.RUNNING, S.RETRYING, S.FAILED, S.CANCELLED, S.DISPATCHED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.RETRYING, S.CANCELLED}),
    S.RETRYING: frozenset({S.DISPATCHED, S.FAILED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    # A retried upstream re-queues the dependents its failure had marked.
    S.UPSTREAM_FAILED: frozenset({S.QUEUED}),
}


class TransitionError(RuntimeError):
    """The requested status change is not an allowed edge."""


class StaleTransition(TransitionError):
    """The run moved on (or the attempt token changed) since the caller looked: nothing written."""


def check_edge(from_status: str, to_status: str) -> None:
    if to_status not in ALLOWED.get(from_status, frozenset()):
        raise TransitionError(f"a run cannot go from {from_status} to {to_status}")


def transition(
    session: Session,
    run: Run,
    to: RunStatus,
    *,
    detail: str = "",
    actor: str = "system",
    token: str | None = None,
    **fields: Any,
) -> Run:
    """Move `run` to `to` if it is still in the status the caller saw (and holds `token`).

    Writes the run row and its dw_etl_run_events row in the caller's transaction and queues the
    event for the etl:events stream, published once the transaction commits. Raises
    StaleTransition when another process changed the run first.
    """
    from_status = run.status
    check_edge(from_status, to)
    now = db_now(session)
    values: dict[str, Any] = {"status": str(to), "status_detail": detail, **fields}
    if to in FINAL and "ended_at" not in values:
        values["ended_at"] = now
    conditions = [col(Run.run_id) == run.run_id, col(Run.status) == from_status]
    if token is not None:
        conditions.append(col(Run.attempt_token) == token)
    result = session.execute(update(Run).where(*conditions).values(**values))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleTransition(f"run {run.run_id} is no longer {from_status}")
    for key, value in values.items():
        setattr(run, key, value)
    attempt = int(values.get("attempts", run.attempts))
    session.add(
        RunEvent(
            run_id=run.run_id or 0,
            ts=now,
            from_status=from_status,
            to_status=str(to),
            attempt=attempt,
            detail=detail,
            actor=actor,
        )
    )
    if to in FINAL and not run.dry_run:
        _record_last_run(session, run)
    queue_event(
        session,
        {
            "kind": "run",
            "run_id": run.run_id,
            "job_id": run.job_id,
            "batch_id": run.batch_id,
            "from": from_status,
            "to": str(to),
            "attempt": attempt,
            "detail": detail,
            "ts": iso(now),
        },
    )
    return run


def _record_last_run(session: Session, run: Run) -> None:
    job = session.exec(select(Job).where(Job.job_id == run.job_id)).one_or_none()
    if job is None:
        return
    job.last_run_id = run.run_id
    job.last_run_status = run.status
    job.last_run_duration_s = run.duration_s
    job.last_run_at = run.ended_at
    session.add(job)


def record_created(session: Session, run: Run, *, actor: str = "system", detail: str = "") -> None:
    """The first timeline event of a new run (it has no earlier status to move from)."""
    now = db_now(session)
    session.add(
        RunEvent(
            run_id=run.run_id or 0,
            ts=now,
            from_status=None,
            to_status=run.status,
            attempt=0,
            detail=detail,
            actor=actor,
        )
    )
    queue_event(
        session,
        {
            "kind": "run",
            "run_id": run.run_id,
            "job_id": run.job_id,
            "batch_id": run.batch_id,
            "from": None,
            "to": run.status,
            "attempt": 0,
            "detail": detail,
            "ts": iso(now),
        },
    )
