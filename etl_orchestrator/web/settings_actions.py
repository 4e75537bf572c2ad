"""Settings changes from the console: admins only, the role re-read from the database.

A refusal is audited in the caller's transaction (commit it); a change writes the setting, its
history row and its audit row in that same transaction.
"""

from __future__ import annotations

from sqlmodel import Session

from etl_orchestrator.config import MAX_PARALLEL_JOBS
from etl_orchestrator.services import settings
from etl_orchestrator.web.actions import require_role

ADMIN = "admin"


def change_parallel_jobs(session: Session, *, username: str, value: object, reason: str) -> int:
    """Set ETL_PARALLEL_JOBS; raises RefusedError (non-admin) or settings.SettingError."""
    reason = reason.strip()
    role = require_role(
        session,
        username=username,
        minimum=ADMIN,
        action="settings.update",
        target=settings.PARALLEL_JOBS,
        reason=reason,
    )
    number = parse_cap(value)
    settings.set_parallel_jobs(session, number, actor=username, reason=reason, role=role)
    return number


def change_alerts_visible(session: Session, *, username: str, value: bool, reason: str) -> None:
    reason = reason.strip()
    role = require_role(
        session,
        username=username,
        minimum=ADMIN,
        action="settings.update",
        target=settings.ALERTS_VISIBLE,
        reason=reason,
    )
    settings.set_alerts_visible(session, value, actor=username, reason=reason, role=role)


def parse_cap(value: object) -> int:
    """The cap from a form field ("3"), or SettingError saying what is allowed."""
    text = str(value).strip() if value is not None else ""
    if isinstance(value, bool) or not text.isdigit():
        raise settings.SettingError(
            f"parallel jobs must be a whole number from 1 to {MAX_PARALLEL_JOBS}, not {text!r}"
        )
    return int(text)
