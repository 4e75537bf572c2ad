"""Run states, the allowed edges between them, and the one transition() every status change uses."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Table, insert, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from etl_orchestrator.db import db_now, queue_event
from etl_orchestrator.models import Job, Run, RunEvent
from etl_orchestrator.timeutil import iso

RUNS: Table = Run.metadata.tables["dw_etl_runs"]
RUN_EVENTS: Table = RunEvent.metadata.tables["dw_etl_run_events"]
JOBS: Table = Job.metadata.tables["dw_etl_jobs"]


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
#: Runs not started yet: queued (free to start), waiting (held by an upstream), retrying.
PENDING: frozenset[str] = frozenset({S.QUEUED, S.WAITING, S.RETRYING})

ALLOWED: dict[str, frozenset[str]] = {
    S.QUEUED: frozenset({S.WAITING, S.DISPATCHED, S.CANCELLED, S.UPSTREAM_FAILED}),
    S.WAITING: frozenset({S.QUEUED, S.CANCELLED, S.UPSTREAM_FAILED}),
    # dispatched -> retrying/failed/dispatched: the arq job was lost before a worker claimed it.
    S.DISPATCHED: frozenset({S.RUNNING, S.RETRYING, S.FAILED, S.CANCELLED, S.DISPATCHED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.RETRYING, S.CANCELLED}),
    S.RETRYING: frozenset({S.DISPATCHED, S.FAILED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    # A retried upstream re-queues the dependents its failure had marked.
    S.UPSTREAM_FAILED: frozenset({S.QUEUED, S.WAITING}),
}


class TransitionError(RuntimeError):
    """The requested status change is not an allowed edge."""


class StaleTransition(TransitionError):
    """The run moved on (or the attempt token changed) since the caller looked: nothing written."""


def check_edge(from_status: str, to_status: str) -> None:
    if to_status not in ALLOWED.get(from_status, frozenset()):
        raise TransitionError(f"a run cannot go from {from_status} to {to_status}")


def _event(
    session: Session,
    run: Run | RunRef,
    from_status: str | None,
    attempt: int,
    detail: str,
    actor: str,
) -> None:
    """The timeline row and the stream event of a status change (Core insert: a hot path)."""
    now = db_now(session)
    session.execute(
        insert(RUN_EVENTS).values(
            run_id=run.run_id,
            ts=now,
            from_status=from_status,
            to_status=run.status,
            attempt=attempt,
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
            "from": from_status,
            "to": run.status,
            "attempt": attempt,
            "detail": detail,
            "ts": iso(now),
        },
    )


class RunRef:
    """The fields transition() needs, for callers that read the run with a Core query."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    run_id: int
    job_id: str
    batch_id: str
    status: str
    attempts: int
    dry_run: bool
    duration_s: float | None
    ended_at: Any


AnyRun = TypeVar("AnyRun", Run, RunRef)


def transition(
    session: Session,
    run: AnyRun,
    to: RunStatus,
    *,
    detail: str = "",
    actor: str = "system",
    token: str | None = None,
    **fields: Any,
) -> AnyRun:
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
    conditions = [RUNS.c.run_id == run.run_id, RUNS.c.status == from_status]
    if token is not None:
        conditions.append(RUNS.c.attempt_token == token)
    result = session.execute(update(RUNS).where(*conditions).values(**values))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleTransition(f"run {run.run_id} is no longer {from_status}")
    orm_instance = hasattr(run, "_sa_instance_state")
    for key, value in values.items():
        # The row is already written: keep the ORM object in step without marking it dirty.
        if orm_instance:
            set_committed_value(run, key, value)
        else:
            setattr(run, key, value)
    attempt = int(values.get("attempts", run.attempts))
    _event(session, run, from_status, attempt, detail, actor)
    if to in FINAL and not run.dry_run:
        session.execute(
            update(JOBS)
            .where(JOBS.c.job_id == run.job_id)
            .values(
                last_run_id=run.run_id,
                last_run_status=run.status,
                last_run_duration_s=run.duration_s,
                last_run_at=run.ended_at,
            )
        )
    return run


def record_created(session: Session, run: Run, *, actor: str = "system", detail: str = "") -> None:
    """The first timeline event of a new run (it has no earlier status to move from)."""
    _event(session, run, None, 0, detail, actor)
