"""Console actions that change something: the role is read again and every outcome audited."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from etl_orchestrator.services import audit, run_actions, runs, users

ROLE_RANK = {role: rank for rank, role in enumerate(users.ROLES)}
OPERATOR = "operator"


class RefusedError(PermissionError):
    """The user may not do this; the refusal is already recorded in the audit."""


@dataclass(frozen=True)
class RunNowResult:
    batch_id: str
    run_ids: list[int]
    #: The job of each run, in the same order.
    job_ids: list[str] = field(default_factory=list)


def allows(role: str | None, minimum: str) -> bool:
    """True when `role` is `minimum` or above (viewer < operator < admin)."""
    return role is not None and ROLE_RANK.get(role, -1) >= ROLE_RANK[minimum]


def require_role(
    session: Session, *, username: str, minimum: str, action: str, target: str, reason: str
) -> str:
    """The user's role as the database has it now, or RefusedError (audited as refused).

    Read on every call, so a demotion or deactivation takes effect on the very next click.
    """
    role = users.get_role(session, username)
    if allows(role, minimum):
        assert role is not None
        return role
    audit.record(
        session,
        actor=username,
        role=role or "",
        action=action,
        target=target,
        reason=reason,
        outcome="refused",
        detail=f"needs the {minimum} role; {username} is {role or 'not an active user'}",
    )
    raise RefusedError(
        f"Refused: {action} needs the {minimum} role, and you are "
        f"{'a ' + role if role else 'not an active user'}. Ask an admin if you need it."
    )


def run_now(session: Session, *, username: str, job_id: str, reason: str) -> RunNowResult:
    """Trigger `job_id` now for an operator or admin; the run and its audit row commit together.

    Raises RefusedError (refusal audited in this transaction: commit it) or runs.TriggerError.
    """
    return run_with_options(session, username=username, job_id=job_id, reason=reason)


def run_with_options(
    session: Session,
    *,
    username: str,
    job_id: str,
    reason: str,
    params: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    downstream: bool = False,
    concurrency: int | None = None,
    from_run_id: int = 0,
) -> RunNowResult:
    """Trigger `job_id` (or, with `from_run_id`, rerun that run) for an operator or admin.

    The role is read from the database now; the runs and their audit row ("run.trigger", or
    "run.rerun" for a rerun) commit together. Raises RefusedError (the refusal is audited in
    this transaction: commit it), runs.TriggerError (ParamsError per field) or
    run_actions.RunActionError; on those nothing is queued.
    """
    reason = reason.strip()
    rerun = from_run_id > 0
    role = require_role(
        session,
        username=username,
        minimum=OPERATOR,
        action="run.rerun" if rerun else "run.trigger",
        target=f"run {from_run_id} ({job_id})" if rerun else job_id,
        reason=reason,
    )
    if not reason:
        raise runs.TriggerError("Say why you run it now: a reason is required for the audit.")
    if rerun:
        result = run_actions.rerun_run(
            session,
            run_id=from_run_id,
            actor=username,
            role=role,
            reason=reason,
            params=params,
            dry_run=dry_run,
            downstream=downstream,
            concurrency=concurrency,
        )
    else:
        result = runs.trigger(
            session,
            job_id=job_id,
            params=params,
            dry_run=dry_run,
            downstream=downstream,
            concurrency=concurrency,
            requested_by=username,
            role=role,
            reason=reason,
        )
    return RunNowResult(
        batch_id=result.batch_id,
        run_ids=result.run_ids,
        job_ids=[run.job_id for run in result.runs],
    )
