"""What the settings page shows: live values with their apply state, change history, and the
alert destinations from the environment (read-only, secrets masked)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import or_
from sqlmodel import Session, col, select

from etl_orchestrator.config import MAX_PARALLEL_JOBS, Settings, get_settings
from etl_orchestrator.models import Setting, SettingHistory
from etl_orchestrator.services import settings
from etl_orchestrator.timeutil import iso

HISTORY_PAGE = 20
NOT_CONFIGURED = "not configured"


@dataclass
class HistoryRow:
    id: int = 0
    key: str = ""
    old_value: str = ""
    new_value: str = ""
    changed_at: str = ""
    changed_by: str = ""
    reason: str = ""


@dataclass
class Destination:
    name: str = ""
    value: str = ""
    configured: bool = False


@dataclass
class SettingsView:
    """Times are ISO 8601 UTC or "" (applied_at "" means the dispatcher has not applied it)."""

    parallel_jobs: int = 0
    min_parallel_jobs: int = 1
    max_parallel_jobs: int = MAX_PARALLEL_JOBS
    parallel_updated_at: str = ""
    parallel_updated_by: str = ""
    parallel_applied_at: str = ""
    alerts_visible: bool = True
    alerts_updated_at: str = ""
    alerts_updated_by: str = ""
    destinations: list[Destination] = field(default_factory=list)


def _text(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def mask_url(url: str) -> str:
    """scheme://host/…last 4 characters: enough to tell which webhook, not enough to use it."""
    if not url:
        return NOT_CONFIGURED
    parts = urlsplit(url)
    tail = url[-4:] if len(url) > 12 else ""
    host = parts.hostname or "?"
    return f"{parts.scheme or 'https'}://{host}/…{tail}"


def destinations(config: Settings | None = None) -> list[Destination]:
    config = config or get_settings()
    smtp = f"{config.smtp_host}:{config.smtp_port}" if config.smtp_host else ""
    slack = config.slack_webhook_url
    sender, to = config.alert_email_from, config.alert_email_to
    return [
        Destination("Slack webhook", mask_url(slack), bool(slack)),
        Destination("SMTP server", smtp or NOT_CONFIGURED, bool(smtp)),
        Destination("Email from", sender or NOT_CONFIGURED, bool(sender)),
        Destination("Email to", to or NOT_CONFIGURED, bool(to)),
    ]


def settings_view(session: Session) -> SettingsView:
    cap = settings.parallel_jobs(session)
    visible = settings.alerts_visible(session)
    cap_row = session.get(Setting, settings.PARALLEL_JOBS)
    alerts_row = session.get(Setting, settings.ALERTS_VISIBLE)
    # The readers above seed both rows.
    assert cap_row is not None
    assert alerts_row is not None
    return SettingsView(
        parallel_jobs=cap,
        parallel_updated_at=iso(cap_row.updated_at) or "",
        parallel_updated_by=cap_row.updated_by,
        parallel_applied_at=iso(cap_row.applied_at) or "",
        alerts_visible=visible,
        alerts_updated_at=iso(alerts_row.updated_at) or "",
        alerts_updated_by=alerts_row.updated_by,
        destinations=destinations(),
    )


def history(session: Session, *, before_id: int = 0, limit: int = HISTORY_PAGE) -> list[HistoryRow]:
    """Changes of the page's settings, newest first; `before_id` pages on (keyset by id)."""
    query = select(SettingHistory).where(
        or_(
            col(SettingHistory.key) == settings.PARALLEL_JOBS,
            col(SettingHistory.key) == settings.ALERTS_VISIBLE,
        )
    )
    if before_id:
        query = query.where(col(SettingHistory.id) < before_id)
    rows = session.exec(query.order_by(col(SettingHistory.id).desc()).limit(limit))
    return [
        HistoryRow(
            id=row.id or 0,
            key=row.key,
            old_value=_text(row.old_value),
            new_value=_text(row.new_value),
            changed_at=iso(row.changed_at) or "",
            changed_by=row.changed_by,
            reason=row.reason,
        )
        for row in rows
    ]
