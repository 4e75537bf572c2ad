"""Run states, the allowed edges between them, and the one transition() every status change uses."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from etl_orchestrator.db import db_now, is_sqlite, queue_event
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


@dataclass
class Move:
    """One run's status change, as transition_many() takes it (see transition())."""

    run: Run | RunRef
    to: RunStatus
    detail: str = ""
    token: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


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
    seen = run.status
    if not transition_many(session, [Move(run, to, detail, token, fields)], actor=actor)[0]:
        raise StaleTransition(f"run {run.run_id} is no longer {seen}")
    return run


def transition_many(
    session: Session, moves: Sequence[Move], *, actor: str = "system"
) -> list[bool]:
    """transition() for many runs in one go: True for each run moved, False for each stale one.

    A worker claims and finishes whole groups of attempts and the dispatcher starts whole pages
    of runs; one statement per kind of write (runs, events, jobs) instead of three per run is
    most of their cost. Each run is still fenced on its own: its status as the caller saw it, and
    its token. A run named twice moves once.
    """
    if not moves:
        return []
    for move in moves:
        check_edge(move.run.status, move.to)
    now = db_now(session)
    live = _current(session, moves)
    changes: list[tuple[Move, str, dict[str, Any]]] = []
    updates: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for index in live:
        move = moves[index]
        values: dict[str, Any] = {"status": str(move.to), "status_detail": move.detail}
        values.update(move.fields)
        if move.to in FINAL and "ended_at" not in values:
            values["ended_at"] = now
        changes.append((move, move.run.status, values))
        # One executemany per shape of update: the rows' own values and fences are parameters.
        kind = (move.token is not None, tuple(sorted(values)))
        updates[kind].append(
            {"_id": move.run.run_id, "_from": move.run.status, "_token": move.token}
            | {f"_v_{key}": value for key, value in values.items()}
        )
    for (fenced, keys), rows in updates.items():
        conditions = [RUNS.c.run_id == bindparam("_id"), RUNS.c.status == bindparam("_from")]
        if fenced:
            conditions.append(RUNS.c.attempt_token == bindparam("_token"))
        statement = update(RUNS).where(*conditions).values({k: bindparam(f"_v_{k}") for k in keys})
        moved = session.execute(statement, rows).rowcount  # type: ignore[attr-defined]
        if len(moves) == 1 and moved == 0:
            # A lone move is fenced by its update alone (no read first): it lost a race.
            return [False]
        if moved != len(rows):
            raise TransitionError(f"{moved} of {len(rows)} locked runs were updated")
    for move, _, values in changes:
        _apply(move.run, values)
    _timeline(
        session,
        [
            (move.run, seen, int(values.get("attempts", move.run.attempts)), move.detail)
            for move, seen, values in changes
        ],
        now,
        actor,
    )
    _last_runs(session, [move.run for move, _, _ in changes if move.to in FINAL])
    return [index in live for index in range(len(moves))]


def _current(session: Session, moves: Sequence[Move]) -> list[int]:
    """Indices of the moves whose run is still as the caller saw it, locked in run-id order.

    A lone move skips the read: its fenced update says whether it lost a race.
    """
    if len(moves) == 1:
        return [0]
    ids = sorted({move.run.run_id or 0 for move in moves})
    query = select(RUNS.c.run_id, RUNS.c.status, RUNS.c.attempt_token).where(RUNS.c.run_id.in_(ids))
    if not is_sqlite(session):
        # SQLite transactions hold the write lock from BEGIN IMMEDIATE already.
        query = query.order_by(RUNS.c.run_id).with_for_update()
    rows = {row.run_id: row for row in session.execute(query)}
    live: list[int] = []
    taken: set[int] = set()
    for index, move in enumerate(moves):
        row = rows.get(move.run.run_id)
        if (
            row is None
            or move.run.run_id in taken
            or row.status != move.run.status
            or (move.token is not None and row.attempt_token != move.token)
        ):
            continue
        taken.add(move.run.run_id or 0)
        live.append(index)
    return live


def _apply(run: Run | RunRef, values: dict[str, Any]) -> None:
    """Keep the caller's object in step with the row (an ORM one without marking it dirty)."""
    orm_instance = hasattr(run, "_sa_instance_state")
    for key, value in values.items():
        if orm_instance:
            set_committed_value(run, key, value)
        else:
            setattr(run, key, value)


#: (run, status it came from, attempt, detail) for one timeline row.
Entry = tuple["Run | RunRef", str | None, int, str]


def _timeline(session: Session, entries: list[Entry], now: datetime, actor: str) -> None:
    """The dw_etl_run_events rows of these changes (one insert), and their stream events."""
    if not entries:
        return
    session.execute(
        insert(RUN_EVENTS),
        [
            {
                "run_id": run.run_id,
                "ts": now,
                "from_status": seen,
                "to_status": run.status,
                "attempt": attempt,
                "detail": detail,
                "actor": actor,
            }
            for run, seen, attempt, detail in entries
        ],
    )
    for run, seen, attempt, detail in entries:
        queue_event(
            session,
            {
                "kind": "run",
                "run_id": run.run_id,
                "job_id": run.job_id,
                "batch_id": run.batch_id,
                "from": seen,
                "to": run.status,
                "attempt": attempt,
                "detail": detail,
                "ts": iso(now),
            },
        )


def _last_runs(session: Session, finished: list[Run | RunRef]) -> None:
    """Each job's last-run columns, from its runs that just ended (dry runs leave them alone)."""
    real = sorted((run for run in finished if not run.dry_run), key=lambda r: (r.job_id, r.run_id))
    if not real:
        return
    session.execute(
        update(JOBS)
        .where(JOBS.c.job_id == bindparam("_job"))
        .values(
            last_run_id=bindparam("_run"),
            last_run_status=bindparam("_status"),
            last_run_duration_s=bindparam("_duration"),
            last_run_at=bindparam("_at"),
        ),
        [
            {
                "_job": run.job_id,
                "_run": run.run_id,
                "_status": run.status,
                "_duration": run.duration_s,
                "_at": run.ended_at,
            }
            for run in real
        ],
    )


def record_created(
    session: Session, created: Sequence[tuple[Run, str]], *, actor: str = "system"
) -> None:
    """The first timeline event of each new (run, detail): it has no earlier status."""
    _timeline(session, [(run, None, 0, detail) for run, detail in created], db_now(session), actor)
