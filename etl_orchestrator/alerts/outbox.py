"""dw_etl_alerts as the outbox: create each alert once (dedup key), claim due deliveries, record
their outcome per destination with exponential backoff.

`channels` holds one entry per destination configured when the alert was created::

    {"slack": {"status": "pending"|"sent"|"failed", "attempts": 2, "last_error": "HTTP 500",
               "next_try_at": "2026-...Z", "sent_at": null}, "email": {...}}

The row's own `status` sums them up: pending while any destination is pending, sent when all
were sent, failed when one gave up, `none` when no destination was configured. A claim pushes the
destination's next_try_at past the send timeout before sending (committed first), so a second
scheduler that wrongly thinks it leads skips it; a process that dies mid-send leaves a claim
that simply expires and is retried (at least once, never twice by two live senders).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from etl_orchestrator.alerts.message import RUN_FAILED
from etl_orchestrator.config import Settings
from etl_orchestrator.db import db_now, is_sqlite
from etl_orchestrator.engine.backoff import backoff_delay
from etl_orchestrator.models import Alert, Run, RunEvent
from etl_orchestrator.states import RunStatus
from etl_orchestrator.timeutil import as_utc, iso

SLACK = "slack"
EMAIL = "email"
PENDING, SENT, FAILED, NONE = "pending", "sent", "failed", "none"
#: Systemic alerts still going on carry this dedup key; resolving renames it (kind:<id>).
OPEN_SUFFIX = ":open"


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 5.0
    max_s: float = 900.0
    max_attempts: int = 12


def destinations(settings: Settings) -> list[str]:
    found = []
    if settings.slack_webhook_url:
        found.append(SLACK)
    if settings.smtp_host and settings.alert_email_to.strip():
        found.append(EMAIL)
    return found


def _channels(dests: list[str], now: datetime) -> dict[str, Any]:
    return {
        d: {"status": PENDING, "attempts": 0, "last_error": None, "next_try_at": iso(now)}
        for d in dests
    }


def summary_status(channels: dict[str, Any]) -> str:
    statuses = {str(c.get("status")) for c in channels.values()}
    if not statuses:
        return NONE
    if PENDING in statuses:
        return PENDING
    return FAILED if FAILED in statuses else SENT


def record(
    session: Session,
    *,
    kind: str,
    dedup_key: str,
    message: str,
    dests: list[str],
    severity: str = "error",
    run_id: int | None = None,
    job_id: str | None = None,
) -> Alert | None:
    """Insert the alert unless its dedup key exists (then None): safe under any concurrency."""
    now = db_now(session)
    channels = _channels(dests, now)
    alert = Alert(
        created_at=now,
        kind=kind,
        severity=severity,
        run_id=run_id,
        job_id=job_id,
        dedup_key=dedup_key,
        message=message,
        channels=channels,
        status=summary_status(channels),
    )
    try:
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:
        return None
    return alert


def run_failed_message(run: Run) -> str:
    detail = (run.status_detail or run.error_excerpt or "").strip().splitlines()
    reason = detail[0][:300] if detail else "no error recorded"
    return (
        f"Run {run.run_id} of job {run.job_id} failed for good after "
        f"{run.attempts} of {run.max_attempts} attempt(s): {reason}"
    )


def detect_run_failures(session: Session, dests: list[str], lookback_s: float) -> list[int]:
    """An alert for every real run that reached `failed` within `lookback_s` and has none yet.

    Reads the timeline (dw_etl_run_events, indexed by time) rather than every failed run ever,
    so the pass costs what happened lately. Dry runs are previews: whoever started one watches
    it, so they raise no alert. Cancelled and upstream_failed runs are not failures of their own
    (the upstream's failure has its alert).
    """
    since = db_now(session) - timedelta(seconds=lookback_s)
    already = select(Alert.alert_id).where(
        col(Alert.run_id) == col(Run.run_id), col(Alert.kind) == RUN_FAILED
    )
    runs = session.exec(
        select(Run)
        .join(RunEvent, col(RunEvent.run_id) == col(Run.run_id))
        .where(
            col(RunEvent.ts) >= since,
            col(RunEvent.to_status) == RunStatus.FAILED,
            col(Run.status) == RunStatus.FAILED,
            col(Run.dry_run).is_(False),
            ~already.exists(),
        )
        .order_by(col(Run.run_id))
        .limit(500)
    ).all()
    created = []
    for run in runs:
        assert run.run_id is not None
        alert = record(
            session,
            kind=RUN_FAILED,
            dedup_key=f"{RUN_FAILED}:{run.run_id}",
            message=run_failed_message(run),
            dests=dests,
            run_id=run.run_id,
            job_id=run.job_id,
        )
        if alert is not None:
            created.append(run.run_id)
    return created


def resolve_open(session: Session, kind: str, note: str) -> bool:
    """Close the open systemic alert of `kind` (its key becomes kind:<id>); False if none."""
    alert = session.exec(select(Alert).where(col(Alert.dedup_key) == kind + OPEN_SUFFIX)).first()
    if alert is None:
        return False
    alert.dedup_key = f"{kind}:{alert.alert_id}"
    alert.message = f"{alert.message} {note}".strip()
    session.add(alert)
    return True


def has_open(session: Session, kind: str) -> bool:
    return (
        session.exec(
            select(Alert.alert_id).where(col(Alert.dedup_key) == kind + OPEN_SUFFIX)
        ).first()
        is not None
    )


@dataclass(frozen=True)
class Claim:
    """One destination of one alert, claimed for sending now."""

    alert_id: int
    channel: str
    attempt: int
    kind: str
    severity: str
    message: str
    created_at: datetime
    run_id: int | None
    job_id: str | None


def claim_due(session: Session, *, claim_s: float, limit: int = 20) -> list[Claim]:
    """Pending destinations whose next try is due, each pushed `claim_s` ahead and counted."""
    now = db_now(session)
    query = (
        select(Alert).where(col(Alert.status) == PENDING).order_by(col(Alert.alert_id)).limit(limit)
    )
    if not is_sqlite(session):
        # Two would-be leaders never claim the same row at once; SQLite has one writer anyway.
        query = query.with_for_update(skip_locked=True)
    claims = []
    for alert in session.exec(query).all():
        assert alert.alert_id is not None
        channels = {name: dict(state) for name, state in alert.channels.items()}
        changed = False
        for name, state in channels.items():
            due = state.get("next_try_at")
            if state.get("status") != PENDING or (
                due and as_utc(datetime.fromisoformat(due)) > now
            ):
                continue
            state["attempts"] = int(state.get("attempts") or 0) + 1
            state["next_try_at"] = iso(now + timedelta(seconds=claim_s))
            changed = True
            claims.append(
                Claim(
                    alert_id=alert.alert_id,
                    channel=name,
                    attempt=state["attempts"],
                    kind=alert.kind,
                    severity=alert.severity,
                    message=alert.message,
                    created_at=as_utc(alert.created_at),
                    run_id=alert.run_id,
                    job_id=alert.job_id,
                )
            )
        if changed:
            alert.channels = channels
            alert.attempts = sum(int(s.get("attempts") or 0) for s in channels.values())
            session.add(alert)
    return claims


def record_outcome(session: Session, claim: Claim, error: str | None, policy: RetryPolicy) -> str:
    """Write how one send went; returns the destination's new status."""
    alert = session.get(Alert, claim.alert_id)
    if alert is None:
        return FAILED  # removed by retention meanwhile
    now = db_now(session)
    channels = {name: dict(state) for name, state in alert.channels.items()}
    state = channels.get(claim.channel)
    if state is None:
        return FAILED
    if error is None:
        state.update(status=SENT, sent_at=iso(now), next_try_at=None)
    else:
        state["last_error"] = error[:500]
        alert.last_error = f"{claim.channel}: {error}"[:1000]
        if int(state.get("attempts") or 0) >= policy.max_attempts:
            state.update(status=FAILED, next_try_at=None)
        else:
            delay = backoff_delay(
                int(state.get("attempts") or 1),
                base_s=policy.base_s,
                factor=2.0,
                max_s=policy.max_s,
                jitter=0.1,
            )
            state["next_try_at"] = iso(now + timedelta(seconds=delay))
    alert.channels = channels
    alert.status = summary_status(channels)
    if alert.status == SENT:
        alert.sent_at = now
    session.add(alert)
    return str(state["status"])
