"""Read-side queries about runs: pages of runs, one run's detail, its timeline and its log lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from etl_orchestrator.models import Run, RunAttempt, RunEvent, RunLog
from etl_orchestrator.states import RunStatus

MAX_PAGE = 1000


class UnknownRunError(LookupError):
    """No run has this id (it never existed, or retention removed it)."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"unknown run {run_id}")
        self.run_id = run_id


@dataclass(frozen=True)
class RunPage:
    """Runs newest first; `next_before` is the cursor of the next (older) page, None on the last."""

    runs: list[Run]
    next_before: int | None


@dataclass(frozen=True)
class RunDetail:
    run: Run
    attempts: list[RunAttempt] = field(default_factory=list)
    events: list[RunEvent] = field(default_factory=list)


@dataclass(frozen=True)
class LogPage:
    """Log lines in (attempt, seq) order; `next_after` is the cursor of the next page, or None."""

    lines: list[RunLog]
    next_after: tuple[int, int] | None


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"page size {limit} is out of range: use 1 to {MAX_PAGE}")


def list_runs(
    session: Session,
    *,
    job_id: str | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> RunPage:
    """One page of runs, newest first, optionally of one job and/or in one status.

    Keyset on run_id (`before` is the last run id of the previous page): a page costs the same
    however deep it is, and runs created meanwhile never shift the pages already seen.
    """
    _check_limit(limit)
    if status is not None and status not in set(RunStatus):
        allowed = ", ".join(s.value for s in RunStatus)
        raise ValueError(f"unknown run status {status!r}: use one of {allowed}")
    query = select(Run)
    if job_id is not None:
        query = query.where(col(Run.job_id) == job_id)
    if status is not None:
        query = query.where(col(Run.status) == status)
    if before is not None:
        query = query.where(col(Run.run_id) < before)
    rows = list(session.exec(query.order_by(col(Run.run_id).desc()).limit(limit + 1)))
    more = len(rows) > limit
    runs = rows[:limit]
    return RunPage(runs=runs, next_before=runs[-1].run_id if more and runs else None)


def get_run(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise UnknownRunError(run_id)
    return run


def run_detail(session: Session, run_id: int) -> RunDetail:
    """The run, its attempts in order and its timeline (dw_etl_run_events) in order."""
    run = get_run(session, run_id)
    attempts = session.exec(
        select(RunAttempt).where(col(RunAttempt.run_id) == run_id).order_by(col(RunAttempt.attempt))
    )
    events = session.exec(
        select(RunEvent).where(col(RunEvent.run_id) == run_id).order_by(col(RunEvent.event_id))
    )
    return RunDetail(run=run, attempts=list(attempts), events=list(events))


def batch_runs(session: Session, batch_id: str) -> list[Run]:
    """Every run of one trigger's batch, in creation order."""
    query = select(Run).where(col(Run.batch_id) == batch_id).order_by(col(Run.run_id))
    return list(session.exec(query))


def events_of(session: Session, run_ids: Sequence[int]) -> list[RunEvent]:
    """The timeline events of these runs (a batch: a bounded set), oldest first."""
    if not run_ids:
        return []
    query = (
        select(RunEvent)
        .where(col(RunEvent.run_id).in_(list(run_ids)))
        .order_by(col(RunEvent.event_id))
    )
    return list(session.exec(query))


def log_page(
    session: Session,
    run_id: int,
    *,
    attempt: int | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 500,
) -> LogPage:
    """Stored log lines of a run (or of one attempt) after the (attempt, seq) cursor `after`."""
    _check_limit(limit)
    query = select(RunLog).where(col(RunLog.run_id) == run_id)
    if attempt is not None:
        query = query.where(col(RunLog.attempt) == attempt)
    if after is not None:
        after_attempt, after_seq = after
        query = query.where(
            or_(
                col(RunLog.attempt) > after_attempt,
                and_(col(RunLog.attempt) == after_attempt, col(RunLog.seq) > after_seq),
            )
        )
    query = query.order_by(col(RunLog.attempt), col(RunLog.seq)).limit(limit + 1)
    rows = list(session.exec(query))
    more = len(rows) > limit
    lines = rows[:limit]
    next_after = (lines[-1].attempt, lines[-1].seq) if more and lines else None
    return LogPage(lines=lines, next_after=next_after)
