"""The run drawer's actions (retry, cancel): the role is read again and the audit row written in
the same transaction as the change; a refusal is audited too."""

from __future__ import annotations

from sqlmodel import Session

from etl_orchestrator.services import run_actions
from etl_orchestrator.web.actions import OPERATOR, require_role


def _target(run_id: int) -> str:
    return f"run {run_id}"


def retry(session: Session, *, username: str, run_id: int, reason: str) -> int:
    """Retry a failed or cancelled run; returns the new run's id.

    Raises RefusedError (audited in this transaction: commit it) or RunActionError /
    UnknownRunError (nothing written: roll back).
    """
    role = require_role(
        session,
        username=username,
        minimum=OPERATOR,
        action="run.retry",
        target=_target(run_id),
        reason=reason.strip(),
    )
    result = run_actions.retry_run(session, run_id=run_id, actor=username, role=role, reason=reason)
    return result.run.run_id or 0


def cancel(session: Session, *, username: str, run_id: int, reason: str) -> None:
    """Cancel a run that has not finished; same errors as `retry`."""
    role = require_role(
        session,
        username=username,
        minimum=OPERATOR,
        action="run.cancel",
        target=_target(run_id),
        reason=reason.strip(),
    )
    run_actions.cancel_run(session, run_id=run_id, actor=username, role=role, reason=reason)
