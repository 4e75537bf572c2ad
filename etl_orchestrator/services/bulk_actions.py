"""Actions on many jobs at once (run, dry-run, enable, disable): one reason, a result per job.

Each job is its own transaction: its change and its audit row commit together, and a job that
is refused or fails leaves the others done. The role is read from the database for the batch
and again in each job's transaction, so a demotion takes effect mid-batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session

from etl_orchestrator.db import db_now, session_scope
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.models import Job
from etl_orchestrator.services import audit, catalog, runs
from etl_orchestrator.web.actions import OPERATOR, RefusedError, require_role

ADMIN = "admin"
#: Each action and the role it needs.
ACTIONS: dict[str, str] = {
    "run": OPERATOR,
    "dry_run": OPERATOR,
    "enable": ADMIN,
    "disable": ADMIN,
}
#: The audit action each writes (a run is audited as any other trigger).
AUDIT_ACTIONS = {
    "run": "run.trigger",
    "dry_run": "run.trigger",
    "enable": "job.enable",
    "disable": "job.disable",
}
#: More than a page of the jobs table is not a click's worth.
MAX_JOBS = 200
OK, REFUSED, ERROR = "ok", "refused", "error"


class BulkError(ValueError):
    """The batch as a whole cannot be done (nothing was changed); the message says why."""


@dataclass(frozen=True)
class RowResult:
    job_id: str
    outcome: str  # ok | refused | error
    message: str
    run_ids: list[int] = field(default_factory=list)


def _clean_ids(job_ids: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for job_id in job_ids:
        text = str(job_id).strip()
        if text:
            seen.setdefault(text, None)
    return list(seen)


def _summary(job_ids: Sequence[str]) -> str:
    shown = ", ".join(job_ids[:5])
    return shown + (f" and {len(job_ids) - 5} more" if len(job_ids) > 5 else "")


def apply(*, username: str, action: str, job_ids: Sequence[str], reason: str) -> list[RowResult]:
    """Do `action` to each job, in order; returns one result per (distinct) job.

    Raises BulkError when the batch is malformed (unknown action, no jobs, too many, no reason);
    a refused role is not an exception: every row says "refused", and the refusal is audited.
    """
    if action not in ACTIONS:
        raise BulkError(f"unknown bulk action {action!r}: use one of {', '.join(ACTIONS)}")
    ids = _clean_ids(job_ids)
    if not ids:
        raise BulkError("Select at least one job first.")
    if len(ids) > MAX_JOBS:
        raise BulkError(f"{len(ids)} jobs selected: at most {MAX_JOBS} at once.")
    reason = reason.strip()
    minimum, audit_action = ACTIONS[action], AUDIT_ACTIONS[action]
    refused = ""
    with session_scope() as session:
        try:
            require_role(
                session,
                username=username,
                minimum=minimum,
                action=audit_action,
                target=_summary(ids),
                reason=reason,
            )
        except RefusedError as error:
            refused = str(error)  # its audit row commits with this scope
    if refused:
        return [RowResult(job_id, REFUSED, refused) for job_id in ids]
    if not reason:
        raise BulkError("Say why: one reason for the whole batch is required for the audit.")
    specs: Mapping[str, JobSpec] = catalog.job_specs() if action in ("run", "dry_run") else {}
    results = []
    for job_id in ids:
        try:
            results.append(_one(username, action, job_id, reason, specs))
        except (runs.TriggerError, LookupError) as error:
            _audit_error(username, audit_action, job_id, reason, str(error))
            results.append(RowResult(job_id, ERROR, str(error)))
    return results


def set_enabled(*, username: str, job_id: str, enabled: bool, reason: str) -> RowResult:
    """Enable or disable one job (the jobs table's row action): the bulk path for one job."""
    [result] = apply(
        username=username,
        action="enable" if enabled else "disable",
        job_ids=[job_id],
        reason=reason,
    )
    return result


def _one(
    username: str, action: str, job_id: str, reason: str, specs: Mapping[str, JobSpec]
) -> RowResult:
    refused = ""
    with session_scope() as session:
        try:
            role = require_role(
                session,
                username=username,
                minimum=ACTIONS[action],
                action=AUDIT_ACTIONS[action],
                target=job_id,
                reason=reason,
            )
        except RefusedError as error:
            refused = str(error)
        else:
            if action in ("run", "dry_run"):
                dry = action == "dry_run"
                result = runs.trigger(
                    session,
                    job_id=job_id,
                    dry_run=dry,
                    requested_by=username,
                    role=role,
                    reason=reason,
                    specs=specs,
                )
                ids = result.run_ids
                kind = "dry run" if dry else "run"
                return RowResult(job_id, OK, f"{kind} {', '.join(map(str, ids))} queued", ids)
            return _set_enabled(session, username, role, job_id, action == "enable", reason)
    return RowResult(job_id, REFUSED, refused)


def _set_enabled(
    session: Session, username: str, role: str, job_id: str, enabled: bool, reason: str
) -> RowResult:
    job = session.get(Job, job_id)
    if job is None:
        raise LookupError(f"unknown job {job_id!r}: it may have been removed; reload the list")
    word = "enabled" if enabled else "disabled"
    changed = job.enabled != enabled
    if changed:
        job.enabled = enabled
        job.updated_at = db_now(session)
        session.add(job)
    audit.record(
        session,
        actor=username,
        role=role,
        action="job.enable" if enabled else "job.disable",
        target=job_id,
        params={"enabled": enabled},
        reason=reason,
        detail="" if changed else f"already {word}",
    )
    return RowResult(job_id, OK, word if changed else f"already {word}")


def _audit_error(username: str, action: str, job_id: str, reason: str, message: str) -> None:
    """A row that failed changed nothing; the attempt is still on record."""
    with session_scope() as session:
        audit.record(
            session,
            actor=username,
            action=action,
            target=job_id,
            reason=reason,
            outcome=ERROR,
            detail=message,
        )
