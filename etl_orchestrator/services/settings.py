"""Live settings in dw_etl_settings: the environment only seeds a row that does not exist yet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from etl_orchestrator.config import MAX_PARALLEL_JOBS, get_settings
from etl_orchestrator.db import db_now, is_sqlite, queue_event
from etl_orchestrator.models import Setting, SettingHistory
from etl_orchestrator.services import audit

PARALLEL_JOBS = "parallel_jobs"
#: Seconds between an open console page's own refreshes (0: none); seeded from ETL_CONSOLE_POLL_S.
CONSOLE_POLL_S = "console_poll_s"
#: Whether failure alerts show in the console (toasts, alerts page); deliveries go out regardless.
ALERTS_VISIBLE = "alerts_visible"


class SettingError(ValueError):
    """A settings change was refused; the message says what is allowed."""


def _seed_value(key: str) -> Any:
    if key == PARALLEL_JOBS:
        return get_settings().etl_parallel_jobs
    if key == CONSOLE_POLL_S:
        return get_settings().etl_console_poll_s
    if key == ALERTS_VISIBLE:
        return True
    raise SettingError(f"unknown setting {key!r}")


def get_value(session: Session, key: str) -> Any:
    row = session.get(Setting, key)
    if row is None:
        # Several processes may read a setting first at once: only one seed row may win.
        dialect_insert = sqlite_insert if is_sqlite(session) else pg_insert
        session.execute(
            dialect_insert(Setting)
            .values(key=key, value=_seed_value(key), updated_at=db_now(session))
            .on_conflict_do_nothing(index_elements=["key"])
        )
        row = session.get(Setting, key, populate_existing=True)
        assert row is not None
    return row.value


def parallel_jobs(session: Session) -> int:
    return int(get_value(session, PARALLEL_JOBS))


def console_poll_s(session: Session) -> float:
    return float(get_value(session, CONSOLE_POLL_S))


def alerts_visible(session: Session) -> bool:
    return bool(get_value(session, ALERTS_VISIBLE))


def _change(
    session: Session,
    key: str,
    value: Any,
    *,
    actor: str,
    reason: str,
    role: str,
    current: Callable[[Session, str], Any] = get_value,
) -> None:
    """Write a checked value with its history row, audit row and event, in this transaction.

    The history and audit rows record as old what `current` reads: a setting whose reader seeds
    its own default or stands in for a nonsense value (retention) passes that reader.
    """
    if not reason.strip():
        raise SettingError("a reason is required to change a setting")
    old = current(session, key)
    row = session.get(Setting, key)
    assert row is not None
    now = db_now(session)
    row.value, row.updated_at, row.updated_by, row.applied_at = value, now, actor, None
    session.add(row)
    session.add(
        SettingHistory(
            key=key, old_value=old, new_value=value, changed_at=now, changed_by=actor, reason=reason
        )
    )
    audit.record(
        session,
        actor=actor,
        role=role,
        action="settings.update",
        target=key,
        params={"old": old, "new": value},
        reason=reason,
    )
    queue_event(session, {"kind": "settings", "key": key, "value": value})


def set_parallel_jobs(
    session: Session, value: int, *, actor: str, reason: str, role: str = ""
) -> None:
    """Change the cap; the dispatcher applies it on its next pass. Audited in this transaction."""
    if not isinstance(value, int) or not 1 <= value <= MAX_PARALLEL_JOBS:
        raise SettingError(f"parallel jobs must be an integer from 1 to {MAX_PARALLEL_JOBS}")
    _change(session, PARALLEL_JOBS, value, actor=actor, reason=reason, role=role)


def mark_applied(session: Session, key: str) -> None:
    row = session.get(Setting, key)
    if row is not None and row.applied_at is None:
        row.applied_at = db_now(session)
        session.add(row)


def set_alerts_visible(
    session: Session, value: bool, *, actor: str, reason: str, role: str = ""
) -> None:
    """Show or hide failure alerts in the console; deliveries go out either way. Audited."""
    if not isinstance(value, bool):
        raise SettingError("alert visibility is on or off (true or false)")
    _change(session, ALERTS_VISIBLE, value, actor=actor, reason=reason, role=role)
