"""Retention settings: how many days log lines, run events and audit rows are kept.

They live in dw_etl_settings like every live setting; the first read seeds the default. A value
of 0 keeps that kind of row forever.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from etl_orchestrator.db import db_now, is_sqlite
from etl_orchestrator.models import Setting
from etl_orchestrator.services import settings
from etl_orchestrator.services.settings import SettingError

log = logging.getLogger(__name__)

LOGS_DAYS = "retention_logs_days"
RUN_EVENTS_DAYS = "retention_run_events_days"
AUDIT_DAYS = "retention_audit_days"
#: Days each kind is kept unless an admin changes it.
DEFAULTS: dict[str, int] = {LOGS_DAYS: 30, RUN_EVENTS_DAYS: 90, AUDIT_DAYS: 365}
DESCRIPTIONS: dict[str, str] = {
    LOGS_DAYS: "days log lines of finished runs are kept",
    RUN_EVENTS_DAYS: "days run timeline events of finished runs are kept",
    AUDIT_DAYS: "days audit rows are kept",
}
MAX_DAYS = 36_500


def _seeded(session: Session, key: str) -> Any:
    """The value after writing the default row (if nobody else wrote one first)."""
    # Several processes may read a setting first at once: only one seed row may win.
    dialect_insert = sqlite_insert if is_sqlite(session) else pg_insert
    session.execute(
        dialect_insert(Setting)
        .values(key=key, value=DEFAULTS[key], updated_at=db_now(session))
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return settings.get_value(session, key)


def _valid(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DAYS


def retention_days(session: Session, key: str) -> int:
    """Days to keep (0: forever). A row holding nonsense falls back to the default, loudly."""
    if key not in DEFAULTS:
        raise SettingError(f"unknown retention setting {key!r}: use one of {', '.join(DEFAULTS)}")
    row = session.get(Setting, key)
    value = row.value if row is not None else _seeded(session, key)
    if not _valid(value):
        log.warning(
            "setting %s holds %r, not a whole number of days from 0 to %d; using %d",
            key,
            value,
            MAX_DAYS,
            DEFAULTS[key],
        )
        return DEFAULTS[key]
    return int(value)


def set_retention_days(
    session: Session, key: str, days: int, *, actor: str, reason: str, role: str = ""
) -> None:
    """Change a retention period; the next cleanup pass uses it. Audited in this transaction."""
    if key not in DEFAULTS:
        raise SettingError(f"unknown retention setting {key!r}: use one of {', '.join(DEFAULTS)}")
    if not _valid(days):
        raise SettingError(
            f"{key} must be a whole number of days from 0 (keep forever) to {MAX_DAYS}"
        )
    settings._change(
        session, key, days, actor=actor, reason=reason, role=role, current=retention_days
    )
