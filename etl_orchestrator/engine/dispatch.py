"""One dispatch pass: resolve batch dependencies and start ready runs while slots are free.

Runs in one transaction under a database lock, so the ETL_PARALLEL_JOBS cap holds for any number
of workers and even for two dispatchers that both believe they lead.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from etl_orchestrator.db import db_now, is_sqlite
from etl_orchestrator.models import JobDependency, Run, RunAttempt
from etl_orchestrator.services import settings
from etl_orchestrator.states import FINAL, HOLDS_SLOT, RunStatus, StaleTransition, transition

#: pg_advisory_xact_lock key shared by every dispatcher ("etl-disp").
DISPATCH_LOCK_KEY = 0x65746C2D64697370
#: How many pending runs one pass looks at per page while looking for ready ones.
SCAN_PAGE = 500
FAILED_UPSTREAM = frozenset({RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.UPSTREAM_FAILED})


@dataclass(frozen=True)
class Dispatch:
    run_id: int
    attempt: int
    token: str
    job_id: str

    @property
    def arq_job_id(self) -> str:
        return f"{self.run_id}:{self.attempt}"


@dataclass
class PassResult:
    dispatched: list[Dispatch]
    cap: int
    active: int


def lock_dispatch(session: Session) -> None:
    """Serialise dispatchers. SQLite transactions already begin IMMEDIATE (one writer)."""
    if not is_sqlite(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DISPATCH_LOCK_KEY})


def _deps_of(session: Session, job_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    deps: dict[str, list[tuple[str, str]]] = defaultdict(list)
    ids = sorted(set(job_ids))
    if not ids:
        return deps
    rows = session.exec(select(JobDependency).where(col(JobDependency.job_id).in_(ids)))
    for row in rows:
        deps[row.job_id].append((row.upstream_job_id, row.dep_type))
    return deps


def _batch_statuses(session: Session, batch_ids: Iterable[str]) -> dict[tuple[str, str], str]:
    ids = sorted(set(batch_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Run.batch_id, Run.job_id, Run.status).where(col(Run.batch_id).in_(ids))
    )
    return {(batch, job): status for batch, job, status in rows}


def _blocking(
    run: Run, deps: list[tuple[str, str]], statuses: dict[tuple[str, str], str]
) -> tuple[str, list[str]]:
    """('ready'|'blocked'|'upstream_failed', the upstream jobs concerned).

    Only upstreams inside the same batch are considered here.
    """
    blocked: list[str] = []
    failed: list[str] = []
    for upstream, dep_type in deps:
        status = statuses.get((run.batch_id, upstream))
        if status is None:
            continue
        if dep_type == "completion":
            if status not in FINAL:
                blocked.append(upstream)
        elif status in FAILED_UPSTREAM:
            failed.append(upstream)
        elif status != RunStatus.SUCCEEDED:
            blocked.append(upstream)
    if failed:
        return "upstream_failed", failed
    if blocked:
        return "blocked", blocked
    return "ready", []


def _settle_dependencies(session: Session, pending: list[Run]) -> list[Run]:
    """Mark blocked and failed-upstream runs; return the ones whose upstreams are done.

    Repeats until nothing changes, so a failure cascades through a whole batch in one pass.
    """
    deps = _deps_of(session, (run.job_id for run in pending))
    statuses = _batch_statuses(session, (run.batch_id for run in pending if deps.get(run.job_id)))
    ready: list[Run] = []
    remaining = pending
    changed = True
    while changed:
        changed = False
        still: list[Run] = []
        for run in remaining:
            if run.status == RunStatus.RETRYING:
                ready.append(run)
                continue
            verdict, upstreams = _blocking(run, deps.get(run.job_id, []), statuses)
            if verdict == "upstream_failed":
                transition(
                    session,
                    run,
                    RunStatus.UPSTREAM_FAILED,
                    detail=f"upstream failed: {', '.join(upstreams)}",
                )
                statuses[(run.batch_id, run.job_id)] = run.status
                changed = True
            elif verdict == "blocked":
                detail = f"blocked by {', '.join(upstreams)}"
                if run.status != RunStatus.WAITING or run.status_detail != detail:
                    if run.status == RunStatus.WAITING:
                        run.status_detail = detail
                        session.add(run)
                    else:
                        transition(session, run, RunStatus.WAITING, detail=detail)
                still.append(run)
            else:
                ready.append(run)
        remaining = still
    return ready


def _active_counts(session: Session) -> tuple[int, dict[str, int]]:
    rows = session.execute(
        select(Run.batch_id, func.count())
        .where(col(Run.status).in_(sorted(HOLDS_SLOT)))
        .group_by(Run.batch_id)
    )
    per_batch = {batch: int(count) for batch, count in rows}
    return sum(per_batch.values()), per_batch


def _pending_page(session: Session, after: tuple[int, int] | None) -> list[Run]:
    now = db_now(session)
    query = select(Run).where(
        (col(Run.status).in_([RunStatus.QUEUED, RunStatus.WAITING]))
        | ((col(Run.status) == RunStatus.RETRYING) & (col(Run.next_attempt_at) <= now))
    )
    if after is not None:
        priority, run_id = after
        query = query.where(
            (col(Run.priority) < priority)
            | ((col(Run.priority) == priority) & (col(Run.run_id) > run_id))
        )
    query = query.order_by(col(Run.priority).desc(), col(Run.run_id)).limit(SCAN_PAGE)
    return list(session.exec(query))


def dispatch_pass(session: Session) -> PassResult:
    """Dispatch what may start now; the caller commits, then enqueues the returned dispatches."""
    lock_dispatch(session)
    cap = settings.parallel_jobs(session)
    settings.mark_applied(session, settings.PARALLEL_JOBS)
    active, per_batch = _active_counts(session)
    dispatched: list[Dispatch] = []
    after: tuple[int, int] | None = None
    while True:
        page = _pending_page(session, after)
        if not page:
            break
        after = (page[-1].priority, page[-1].run_id or 0)
        ready = _settle_dependencies(session, page)
        ready.sort(key=lambda run: (-run.priority, run.run_id or 0))
        for run in ready:
            if active >= cap:
                break
            override = run.concurrency_override
            if override is not None and per_batch.get(run.batch_id, 0) >= override:
                continue
            dispatch = _dispatch(session, run)
            if dispatch is None:
                continue
            dispatched.append(dispatch)
            active += 1
            per_batch[run.batch_id] = per_batch.get(run.batch_id, 0) + 1
        if active >= cap or len(page) < SCAN_PAGE:
            break
    return PassResult(dispatched=dispatched, cap=cap, active=active)


def _dispatch(session: Session, run: Run) -> Dispatch | None:
    attempt = run.attempts + 1
    token = secrets.token_hex(16)
    now = db_now(session)
    try:
        transition(
            session,
            run,
            RunStatus.DISPATCHED,
            detail=f"attempt {attempt} of {run.max_attempts}",
            attempts=attempt,
            attempt_token=token,
            dispatched_at=now,
            next_attempt_at=None,
        )
    except StaleTransition:
        return None
    session.add(RunAttempt(run_id=run.run_id or 0, attempt=attempt, token=token, dispatched_at=now))
    return Dispatch(run_id=run.run_id or 0, attempt=attempt, token=token, job_id=run.job_id)
