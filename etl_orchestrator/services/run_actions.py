"""Operator actions on one run: cancel it, retry it inside its batch, or rerun it as a new batch.

Each action needs a reason, runs in the caller's transaction and writes its audit row there
("run.cancel", "run.retry", "run.rerun"), so the action and its record commit together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from etl_orchestrator import dag
from etl_orchestrator.db import db_now
from etl_orchestrator.engine.cancel import request_cancel
from etl_orchestrator.engine.dispatch import _batch_statuses, lock_dispatch, upstreams_of, verdict
from etl_orchestrator.engine.recording import ATTEMPTS
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.models import Job, JobDependency, Run
from etl_orchestrator.services import audit, catalog
from etl_orchestrator.services import runs as run_service
from etl_orchestrator.services.run_queries import get_run
from etl_orchestrator.states import (
    FINAL,
    RunStatus,
    StaleTransition,
    record_created,
    transition,
)

#: A retry replaces a run that ran and did not succeed; an upstream_failed run never ran.
RETRYABLE = frozenset({RunStatus.FAILED, RunStatus.CANCELLED})
#: A run may move on while it is being cancelled (dispatched -> running): try that many times.
CANCEL_TRIES = 5


class RunActionError(ValueError):
    """The action was refused; nothing was written. The message says why and what to do."""


@dataclass
class RetryResult:
    """The new run that replaces the retried one, and the dependents put back to waiting."""

    batch_id: str
    run: Run
    requeued: list[Run] = field(default_factory=list)

    @property
    def runs(self) -> list[Run]:
        return [self.run, *self.requeued]

    @property
    def run_ids(self) -> list[int]:
        return [run.run_id for run in self.runs if run.run_id is not None]


def _reason(reason: str, action: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise RunActionError(f"a reason is required to {action} a run; it is kept in the audit log")
    return reason


def _target(run: Run) -> str:
    return f"run {run.run_id} ({run.job_id})"


def cancel_run(session: Session, *, run_id: int, actor: str, role: str = "", reason: str) -> Run:
    """Cancel a run that has not finished; a running attempt is killed by its worker.

    The run is `cancelled` in the database at once, so a result arriving later cannot overwrite
    it; a running attempt's worker is asked (after commit) to kill it, and records that attempt
    as cancelled. Waiting dependents in the batch become upstream_failed on the dispatcher's
    next pass.
    """
    reason = _reason(reason, "cancel")
    run = get_run(session, run_id)
    for _ in range(CANCEL_TRIES):
        if run.status in FINAL:
            raise RunActionError(
                f"run {run_id} already finished as {run.status}; there is nothing to cancel"
            )
        was = run.status
        now = db_now(session)
        fields: dict[str, Any] = {"next_attempt_at": None}
        if run.started_at is not None:
            fields["duration_s"] = (now - run.started_at).total_seconds()
        try:
            transition(
                session,
                run,
                RunStatus.CANCELLED,
                detail=f"cancelled by {actor} while {was}: {reason}",
                actor=actor,
                **fields,
            )
        except StaleTransition:
            session.refresh(run)
            continue
        break
    else:
        raise RunActionError(f"run {run_id} kept changing status; try to cancel it again")
    if was == RunStatus.DISPATCHED:
        # No worker started it: a late delivery finds the run cancelled and drops it.
        session.execute(
            update(ATTEMPTS)
            .where(
                ATTEMPTS.c.run_id == run_id,
                ATTEMPTS.c.attempt == run.attempts,
                ATTEMPTS.c.outcome.is_(None),
            )
            .values(
                outcome="cancelled",
                ended_at=now,
                error_type="etl_orchestrator.jobs.errors.CancelledByUser",
                error_message=f"cancelled by {actor} before a worker started it: {reason}",
            )
        )
    elif was == RunStatus.RUNNING:
        request_cancel(session, run_id=run_id, actor=actor, reason=reason)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="run.cancel",
        target=_target(run),
        params={"run_id": run_id, "job_id": run.job_id, "batch_id": run.batch_id, "was": was},
        reason=reason,
    )
    return run


def _check_retryable(session: Session, run: Run) -> None:
    if run.status not in RETRYABLE:
        if run.status == RunStatus.UPSTREAM_FAILED:
            raise RunActionError(
                f"run {run.run_id} never ran: an upstream run of its batch failed "
                f"({run.status_detail or 'upstream failed'}); retry that run instead, and its "
                "dependents in the batch are re-queued with it"
            )
        if run.status == RunStatus.SUCCEEDED:
            raise RunActionError(
                f"run {run.run_id} succeeded; to run it again use rerun (a new batch)"
            )
        raise RunActionError(
            f"run {run.run_id} is still {run.status}; wait for it to finish or cancel it first"
        )
    newer = session.exec(
        select(Run.run_id)
        .where(
            col(Run.batch_id) == run.batch_id,
            col(Run.job_id) == run.job_id,
            col(Run.run_id) > run.run_id,
        )
        .order_by(col(Run.run_id).desc())
        .limit(1)
    ).first()
    if newer is not None:
        raise RunActionError(
            f"run {run.run_id} was already retried as run {newer}; act on run {newer} instead"
        )


def _usable_job(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None or not job.declared:
        raise RunActionError(
            f"job {job_id!r} is no longer declared in code; its runs cannot be retried"
        )
    if not job.enabled:
        raise RunActionError(
            f"job {job_id!r} is disabled; an admin can enable it before it can run again"
        )
    return job


def _requeue_dependents(
    session: Session, old: Run, retry: Run, statuses: dict[tuple[str, str], str], actor: str
) -> list[Run]:
    """Put the batch's upstream_failed runs downstream of `old` back to waiting.

    In dependency order, with `statuses` updated as it goes: a run that another failed
    upstream still condemns stays upstream_failed instead of flipping back and forth.
    """
    graph: dict[str, list[str]] = defaultdict(list)
    for dep in session.exec(select(JobDependency)):
        graph[dep.job_id].append(dep.upstream_job_id)
    downstream = dag.downstream_closure(graph, [old.job_id])
    if not downstream:
        return []
    candidates = session.exec(
        select(Run)
        .where(col(Run.batch_id) == old.batch_id, col(Run.job_id).in_(sorted(downstream)))
        .order_by(col(Run.run_id))
    ).all()
    newest = {run.job_id: run for run in candidates}  # ordered by run_id: the last one wins
    deps = upstreams_of(session, newest)
    requeued: list[Run] = []
    for job_id in (job for job in dag.topological_order(graph) if job in newest):
        run = newest[job_id]
        if run.status != RunStatus.UPSTREAM_FAILED:
            continue
        decision, upstreams = verdict(old.batch_id, deps.get(job_id, []), statuses)
        if decision == "upstream_failed":
            continue
        why = f"re-queued: {old.job_id} retried as run {retry.run_id}"
        transition(
            session,
            run,
            RunStatus.WAITING if decision == "blocked" else RunStatus.QUEUED,
            detail=f"blocked by {', '.join(upstreams)}; {why}" if upstreams else why,
            actor=actor,
            ended_at=None,
            duration_s=None,
            error_class=None,
            error_excerpt=None,
        )
        statuses[(old.batch_id, job_id)] = run.status
        requeued.append(run)
    return requeued


def retry_run(
    session: Session,
    *,
    run_id: int,
    actor: str,
    role: str = "",
    reason: str,
    specs: Mapping[str, JobSpec] | None = None,
) -> RetryResult:
    """Retry a failed or cancelled run as a new run in the same batch, with a fresh attempt chain.

    The new run (trigger "retry", retry_of the old one) keeps the batch, params, dry-run and
    scheduled time; the old run's upstream_failed dependents in the batch go back to waiting,
    so the batch can still complete. The dispatcher then treats the newest run of each job in
    the batch as that job's run.
    """
    reason = _reason(reason, "retry")
    lock_dispatch(session)  # one retry at a time, and never halfway through a dispatch pass
    old = get_run(session, run_id)
    _check_retryable(session, old)
    job = _usable_job(session, old.job_id)
    specs = catalog.job_specs() if specs is None else specs
    try:
        params = run_service.validate_params(specs.get(old.job_id), old.job_id, old.params)
    except run_service.ParamsError as error:
        raise RunActionError(
            f"{error}; the job's parameters changed since run {run_id}: rerun it with new params"
        ) from error
    statuses = _batch_statuses(session, [old.batch_id])
    deps = upstreams_of(session, [old.job_id]).get(old.job_id, [])
    decision, upstreams = verdict(old.batch_id, deps, statuses)
    if decision == "upstream_failed":
        raise RunActionError(
            f"run {run_id} cannot succeed in its batch: its upstream {', '.join(upstreams)} did "
            "not succeed there; retry that run first"
        )
    now = db_now(session)
    blocked = decision == "blocked"
    retry = Run(
        job_id=old.job_id,
        batch_id=old.batch_id,
        trigger="retry",
        retry_of=old.run_id,
        scheduled_for=old.scheduled_for,
        status=RunStatus.WAITING if blocked else RunStatus.QUEUED,
        status_detail=f"blocked by {', '.join(upstreams)}" if blocked else "",
        dry_run=old.dry_run,
        params=params,
        priority=job.priority,
        concurrency_override=old.concurrency_override,
        requested_by=actor,
        reason=reason,
        max_attempts=job.max_attempts,
        queued_at=now,
    )
    session.add(retry)
    session.flush()
    record_created(session, [(retry, f"retry of run {run_id}: {reason}")], actor=actor)
    statuses[(old.batch_id, old.job_id)] = retry.status
    requeued = _requeue_dependents(session, old, retry, statuses, actor)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="run.retry",
        target=_target(old),
        params={
            "run_id": run_id,
            "retry_run_id": retry.run_id,
            "batch_id": old.batch_id,
            "requeued": [run.run_id for run in requeued],
        },
        reason=reason,
    )
    return RetryResult(batch_id=old.batch_id, run=retry, requeued=requeued)


def rerun_run(
    session: Session,
    *,
    run_id: int,
    actor: str,
    role: str = "",
    reason: str,
    params: Mapping[str, Any] | None = None,
    dry_run: bool | None = None,
    downstream: bool = False,
    concurrency: int | None = None,
    specs: Mapping[str, JobSpec] | None = None,
) -> run_service.TriggerResult:
    """Run a run's job again as a new batch: the old params and dry-run unless new ones are given.

    `params`, when given, replace the old ones whole and are validated by the job's model
    (ParamsError per field). The new run keeps the old run's scheduled time, so a scheduled
    run's rerun works on the same period. With `downstream`, the batch takes the job's
    dependents as a manual trigger would (services.runs.plan_batch), all marked as a rerun.
    """
    reason = _reason(reason, "rerun")
    old = get_run(session, run_id)
    result = run_service.trigger(
        session,
        job_id=old.job_id,
        params=old.params if params is None else params,
        dry_run=old.dry_run if dry_run is None else dry_run,
        downstream=downstream,
        concurrency=concurrency,
        requested_by=actor,
        role=role,
        reason=reason,
        trigger="rerun",
        scheduled_for=old.scheduled_for,
        specs=specs,
        audit_action=None,
    )
    run = result.runs[0]
    audit.record(
        session,
        actor=actor,
        role=role,
        action="run.rerun",
        target=_target(old),
        params={
            "run_id": run_id,
            "rerun_run_id": run.run_id,
            "batch_id": result.batch_id,
            "params": run.params,
            "dry_run": run.dry_run,
            "downstream": downstream,
            "concurrency": concurrency,
            "run_ids": result.run_ids,
        },
        reason=reason,
    )
    return result
