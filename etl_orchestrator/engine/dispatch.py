"""One dispatch pass: settle waiting runs, then start queued runs while slots are free.

A run is `queued` when nothing in its batch holds it back and `waiting` while an upstream run of
its batch is unfinished. Each pass (1) moves waiting runs whose upstreams finished to `queued`, or
to `upstream_failed` when one failed, and (2) dispatches queued and due retrying runs, highest
priority then oldest first, while dispatched+running < the cap. It runs in one transaction under
a database lock, so the cap holds for any number of workers and even for two dispatchers.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, func, insert, or_, text
from sqlmodel import Session, col, select

from etl_orchestrator.db import db_now, in_chunks, is_sqlite
from etl_orchestrator.models import Job, JobDependency, Run, RunAttempt
from etl_orchestrator.services import settings
from etl_orchestrator.states import FINAL, HOLDS_SLOT, Move, RunStatus, transition_many
from etl_orchestrator.timeutil import as_utc, iso

#: pg_advisory_xact_lock key shared by every dispatcher ("etl-disp").
DISPATCH_LOCK_KEY = 0x65746C2D64697370
ATTEMPTS: Table = RunAttempt.metadata.tables["dw_etl_run_attempts"]
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


def upstreams_of(session: Session, job_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """(upstream job, dependency type) for each of these jobs only."""
    deps: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for chunk in in_chunks(job_ids):
        for row in session.exec(select(JobDependency).where(col(JobDependency.job_id).in_(chunk))):
            deps[row.job_id].append((row.upstream_job_id, row.dep_type))
    return deps


#: For upstream jobs outside a batch: job -> final status -> newest scheduled_for of real runs.
OutsideRuns = Mapping[str, Mapping[str, datetime]]


def _outside_done(dep_type: str, finished: Mapping[str, datetime], since: datetime) -> bool:
    wanted = FINAL if dep_type == "completion" else {RunStatus.SUCCEEDED}
    return any(finished[s] >= since for s in wanted if s in finished)


def verdict(
    batch_id: str,
    deps: list[tuple[str, str]],
    statuses: dict[tuple[str, str], str],
    outside: OutsideRuns | None = None,
    scheduled_for: datetime | None = None,
) -> tuple[str, list[str]]:
    """('ready' | 'blocked' | 'upstream_failed', the upstream jobs concerned).

    `statuses` maps (batch, job) to a status; an upstream run of the same batch decides first.
    An upstream job with no run in the batch is ignored when `outside` is None: manual, retry
    and rerun batches do not check it (an operator who runs one job by hand means it). A
    schedule batch passes `outside` and its `scheduled_for`: such an upstream is satisfied only
    by a real (not dry-run) run scheduled at or after it, a success for a `success` dependency
    or any final run for a `completion` one, and blocks the run until then.
    """
    blocked: list[str] = []
    failed: list[str] = []
    for upstream, dep_type in deps:
        status = statuses.get((batch_id, upstream))
        if status is None:
            if (
                outside is not None
                and scheduled_for is not None
                and not _outside_done(dep_type, outside.get(upstream, {}), scheduled_for)
            ):
                blocked.append(upstream)
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


def _batch_statuses(session: Session, batch_ids: Iterable[str]) -> dict[tuple[str, str], str]:
    """(batch, job) -> status of the job's newest run in the batch.

    A retry adds a second run of a job to its batch: the retry, not the failed run, decides.
    """
    ids = sorted(set(batch_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Run.batch_id, Run.job_id, Run.status)
        .where(col(Run.batch_id).in_(ids))
        .order_by(col(Run.run_id))
    )
    return {(batch, job): status for batch, job, status in rows}


def _outside_runs(session: Session, job_ids: Iterable[str]) -> dict[str, dict[str, datetime]]:
    ids = sorted(set(job_ids))
    found: dict[str, dict[str, datetime]] = defaultdict(dict)
    if not ids:
        return found
    rows = session.execute(
        select(Run.job_id, Run.status, func.max(Run.scheduled_for))
        .where(
            col(Run.job_id).in_(ids),
            col(Run.status).in_(sorted(FINAL)),
            col(Run.dry_run).is_(False),
        )
        .group_by(col(Run.job_id), col(Run.status))
    )
    for job_id, status, latest in rows:
        if latest is not None:
            found[job_id][status] = as_utc(latest)
    return found


def _wait_timeouts(session: Session, job_ids: Iterable[str]) -> dict[str, float]:
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    rows = session.execute(select(Job.job_id, Job.wait_timeout_s).where(col(Job.job_id).in_(ids)))
    return {job_id: float(timeout) for job_id, timeout in rows}


def _waited(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def settle_waiting(session: Session) -> None:
    """Release or fail waiting runs whose upstreams finished; repeats so failures cascade.

    A schedule run held by an upstream job outside its batch (see verdict) waits at most its
    job's wait_timeout_s from its queued_at; then it becomes upstream_failed, naming the
    upstream and how long it waited, and its dependents in the batch follow.
    """
    waiting = list(session.exec(select(Run).where(col(Run.status) == RunStatus.WAITING)))
    if not waiting:
        return
    deps = upstreams_of(session, (run.job_id for run in waiting))
    statuses = _batch_statuses(session, (run.batch_id for run in waiting))
    scheduled = [run for run in waiting if run.trigger == "schedule"]
    outside_jobs = {
        upstream
        for run in scheduled
        for upstream, _ in deps.get(run.job_id, [])
        if (run.batch_id, upstream) not in statuses
    }
    outside = _outside_runs(session, outside_jobs)
    timeouts = _wait_timeouts(session, (run.job_id for run in scheduled)) if outside_jobs else {}
    changed = True
    while changed and waiting:
        changed = False
        still: list[Run] = []
        moves: list[Move] = []
        for run in waiting:
            since = as_utc(run.scheduled_for or run.queued_at)
            decision, upstreams = verdict(
                run.batch_id,
                deps.get(run.job_id, []),
                statuses,
                outside if run.trigger == "schedule" else None,
                since,
            )
            detail = ""
            if decision == "blocked":
                late = [up for up in upstreams if (run.batch_id, up) not in statuses]
                waited = (db_now(session) - as_utc(run.queued_at)).total_seconds()
                timeout = timeouts.get(run.job_id)
                if not late or timeout is None or waited < timeout:
                    detail = f"blocked by {', '.join(upstreams)}"
                    if run.status_detail != detail:
                        run.status_detail = detail
                        session.add(run)
                    still.append(run)
                    continue
                decision = "upstream_failed"
                detail = (
                    f"wait timeout: {', '.join(late)} (outside this batch) had no successful "
                    f"run scheduled at or after {iso(since)}; waited {_waited(waited)} "
                    f"(wait_timeout_s={timeout:g})"
                )
            if decision == "upstream_failed":
                detail = detail or f"upstream failed: {', '.join(upstreams)}"
                moves.append(Move(run, RunStatus.UPSTREAM_FAILED, detail=detail))
            else:
                moves.append(Move(run, RunStatus.QUEUED, detail="upstream runs done"))
        # A round's releases go out together; the next round sees them (failures cascade).
        for move, moved in zip(moves, transition_many(session, moves), strict=True):
            if moved:
                statuses[(move.run.batch_id, move.run.job_id)] = move.run.status
                changed = True
        waiting = still


def _active_counts(session: Session) -> tuple[int, dict[str, int]]:
    rows = session.execute(
        select(Run.batch_id, func.count())
        .where(col(Run.status).in_(sorted(HOLDS_SLOT)))
        .group_by(Run.batch_id)
    )
    per_batch = {batch: int(count) for batch, count in rows}
    return sum(per_batch.values()), per_batch


def _candidates(session: Session, limit: int, skip_batches: set[str]) -> list[Run]:
    now = db_now(session)
    query = select(Run).where(
        or_(
            col(Run.status) == RunStatus.QUEUED,
            (col(Run.status) == RunStatus.RETRYING) & (col(Run.next_attempt_at) <= now),
        )
    )
    if skip_batches:
        query = query.where(col(Run.batch_id).not_in(sorted(skip_batches)))
    query = query.order_by(col(Run.priority).desc(), col(Run.run_id)).limit(limit)
    return list(session.exec(query))


def dispatch_pass(session: Session) -> PassResult:
    """Dispatch what may start now; the caller commits, then enqueues the returned dispatches."""
    lock_dispatch(session)
    cap = settings.parallel_jobs(session)
    settings.mark_applied(session, settings.PARALLEL_JOBS)
    settle_waiting(session)
    active, per_batch = _active_counts(session)
    dispatched: list[Dispatch] = []
    full_batches: set[str] = set()
    while active < cap:
        page = _candidates(session, cap - active, full_batches)
        progressed = False
        chosen: list[Run] = []
        for run in page:
            override = run.concurrency_override
            if override is not None and per_batch.get(run.batch_id, 0) >= override:
                # This batch is at its own cap: look past its runs for other work.
                full_batches.add(run.batch_id)
                progressed = True
                continue
            if active + len(chosen) >= cap:
                break
            chosen.append(run)
            per_batch[run.batch_id] = per_batch.get(run.batch_id, 0) + 1
        for run, dispatch in zip(chosen, dispatch_runs(session, chosen), strict=True):
            if dispatch is None:
                per_batch[run.batch_id] -= 1
                continue
            dispatched.append(dispatch)
            active += 1
            progressed = True
        if not progressed:
            break
    return PassResult(dispatched=dispatched, cap=cap, active=active)


def dispatch_run(session: Session, run: Run) -> Dispatch | None:
    """Give `run` its next attempt (number, token, attempt row); None if it moved on meanwhile."""
    return dispatch_runs(session, [run])[0]


def dispatch_runs(session: Session, runs: Sequence[Run]) -> list[Dispatch | None]:
    """dispatch_run for a page of runs: one transition_many and one insert of attempt rows."""
    now = db_now(session)
    moves = [
        Move(
            run,
            RunStatus.DISPATCHED,
            detail=f"attempt {run.attempts + 1} of {run.max_attempts}",
            fields={
                "attempts": run.attempts + 1,
                "attempt_token": secrets.token_hex(16),
                "dispatched_at": now,
                "next_attempt_at": None,
            },
        )
        for run in runs
    ]
    dispatches: list[Dispatch | None] = []
    for run, moved in zip(runs, transition_many(session, moves), strict=True):
        # transition_many kept the run object in step: it holds the new attempt and token.
        dispatches.append(
            Dispatch(
                run_id=run.run_id or 0,
                attempt=run.attempts,
                token=run.attempt_token or "",
                job_id=run.job_id,
            )
            if moved
            else None
        )
    started = [item for item in dispatches if item is not None]
    if started:
        session.execute(
            insert(ATTEMPTS),
            [
                {"run_id": d.run_id, "attempt": d.attempt, "token": d.token, "dispatched_at": now}
                for d in started
            ],
        )
    return dispatches
