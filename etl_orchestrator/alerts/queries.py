"""Alerts for the console: a keyset page of dw_etl_alerts as plain rows, and open systemic ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from etl_orchestrator.alerts.message import RUN_FAILED, SYSTEMIC_KINDS, kind_label
from etl_orchestrator.alerts.outbox import OPEN_SUFFIX
from etl_orchestrator.models import Alert
from etl_orchestrator.timeutil import as_utc, iso

PAGE_SIZE = 25
_CHANNEL_NAMES = {"slack": "Slack", "email": "E-mail"}


@dataclass
class AlertRow:
    alert_id: int = 0
    kind: str = ""
    kind_label: str = ""
    severity: str = ""
    run_id: int = 0
    job_id: str = ""
    created_at: str = ""
    message: str = ""
    #: One line per destination, e.g. "Slack: sent" or "E-mail: pending, attempt 3 (HTTP 500)".
    deliveries: list[str] = field(default_factory=list)
    ongoing: bool = False


@dataclass
class AlertPage:
    rows: list[AlertRow]
    #: The cursor of the next (older) page; 0 when this is the last one.
    older_than: int


def _delivery(name: str, state: dict[str, Any]) -> str:
    label = _CHANNEL_NAMES.get(name, name)
    status = str(state.get("status") or "pending")
    attempts = int(state.get("attempts") or 0)
    text = f"{label}: {status}"
    if status != "sent" and attempts:
        text += f", attempt {attempts}"
        if state.get("last_error"):
            text += f" ({str(state['last_error'])[:120]})"
        if status == "pending" and state.get("next_try_at"):
            text += f", next try {str(state['next_try_at'])[:19].replace('T', ' ')} UTC"
    return text


def _row(alert: Alert) -> AlertRow:
    deliveries = [_delivery(n, dict(s)) for n, s in sorted(alert.channels.items())]
    return AlertRow(
        alert_id=alert.alert_id or 0,
        kind=alert.kind,
        kind_label=kind_label(alert.kind),
        severity=alert.severity,
        run_id=alert.run_id or 0,
        job_id=alert.job_id or "",
        created_at=iso(as_utc(alert.created_at)) or "",
        message=alert.message,
        deliveries=deliveries or ["No destination configured"],
        ongoing=alert.dedup_key.endswith(OPEN_SUFFIX),
    )


def alert_page(
    session: Session,
    *,
    older_than: int = 0,
    include_failures: bool = True,
    limit: int = PAGE_SIZE,
) -> AlertPage:
    """Newest first, `limit` rows with alert_id < older_than (keyset; 0 = from the newest)."""
    query = select(Alert).order_by(col(Alert.alert_id).desc()).limit(limit + 1)
    if older_than > 0:
        query = query.where(col(Alert.alert_id) < older_than)
    if not include_failures:
        query = query.where(col(Alert.kind) != RUN_FAILED)
    alerts = list(session.exec(query).all())
    more = len(alerts) > limit
    rows = [_row(a) for a in alerts[:limit]]
    return AlertPage(rows=rows, older_than=rows[-1].alert_id if more and rows else 0)


#: A destination refused this many tries in a row: the banner says alerts are not getting out.
FAILING_DELIVERY_ATTEMPTS = 3


def failing_deliveries(session: Session) -> list[str]:
    """One line per destination that keeps refusing alerts (pending, retried, still failing)."""
    pending = session.exec(
        select(Alert)
        .where(col(Alert.status) == "pending", col(Alert.attempts) >= FAILING_DELIVERY_ATTEMPTS)
        .order_by(col(Alert.alert_id).desc())
        .limit(50)
    ).all()
    failing: dict[str, tuple[int, str]] = {}
    for alert in pending:
        for name, state in alert.channels.items():
            tries = int(state.get("attempts") or 0)
            if state.get("status") == "pending" and tries >= FAILING_DELIVERY_ATTEMPTS:
                count, error = failing.get(name, (0, str(state.get("last_error") or "")))
                failing[name] = (count + 1, error)
    return [
        f"Alert delivery to {_CHANNEL_NAMES.get(name, name)} is failing ({error[:120]}): "
        f"{count} alert(s) waiting, retried with backoff. Check the destination."
        for name, (count, error) in sorted(failing.items())
    ]


def open_systemic(session: Session, *, since: datetime | None = None) -> list[str]:
    """One line per systemic alert still going on, and per failing destination (the banner)."""
    query = (
        select(Alert)
        .where(col(Alert.kind).in_(SYSTEMIC_KINDS), col(Alert.dedup_key).endswith(OPEN_SUFFIX))
        .order_by(col(Alert.alert_id))
        .limit(5)
    )
    if since is not None:
        query = query.where(col(Alert.created_at) >= since)
    lines = [f"{kind_label(a.kind)}: {a.message}" for a in session.exec(query).all()]
    return lines + failing_deliveries(session)
