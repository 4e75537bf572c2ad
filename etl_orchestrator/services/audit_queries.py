"""Reading the audit (dw_etl_audit): filtered keyset pages, CSV export, and one run's entries.

Pages go newest first by (ts, audit_id), the order of ix_dw_etl_audit_ts; the cursor is the last
row's (ts, audit_id), never an OFFSET.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import String, Table, and_, cast, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from etl_orchestrator.models import AuditEntry, Run
from etl_orchestrator.timeutil import as_utc, iso

AUDIT: Table = AuditEntry.metadata.tables["dw_etl_audit"]
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
#: The export reads this many rows per query, so a big export never holds the table in memory.
EXPORT_BATCH = 500
#: Rows about a run are written at or after it was queued; allow for clock steps between hosts.
RUN_AUDIT_SLACK = timedelta(minutes=5)
RUN_AUDIT_LIMIT = 200
CSV_COLUMNS = (
    "audit_id",
    "ts",
    "actor",
    "role",
    "action",
    "target",
    "outcome",
    "reason",
    "params",
    "detail",
)


class AuditQueryError(ValueError):
    """A filter or cursor the audit cannot use; the message says what is expected."""


@dataclass(frozen=True)
class AuditFilter:
    """Empty fields do not filter. `target` matches a job id or run anywhere in the target."""

    actor: str = ""
    action: str = ""
    target: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.actor.strip():
            found.append(func.lower(col(AuditEntry.actor)) == self.actor.strip().lower())
        if self.action.strip():
            action = self.action.strip()
            # "run" finds run.trigger, run.cancel…; "run.cancel" only that action.
            exact = col(AuditEntry.action) == action
            found.append(or_(exact, col(AuditEntry.action).startswith(action + ".")))
        if self.target.strip():
            found.append(col(AuditEntry.target).contains(self.target.strip(), autoescape=True))
        if self.since is not None:
            found.append(col(AuditEntry.ts) >= as_utc(self.since))
        if self.until is not None:
            found.append(col(AuditEntry.ts) < as_utc(self.until))
        return found


@dataclass
class AuditRow:
    """One audit entry for display; ts is ISO 8601 UTC, params compact JSON text."""

    audit_id: int = 0
    ts: str = ""
    actor: str = ""
    role: str = ""
    action: str = ""
    target: str = ""
    outcome: str = ""
    reason: str = ""
    params: str = ""
    detail: str = ""
    #: The run the entry is about, 0 when none (for a link).
    run_id: int = 0


@dataclass
class AuditPage:
    rows: list[AuditRow] = field(default_factory=list)
    #: Pass back to get the next (older) page; "" when this is the last one.
    next_cursor: str = ""


def _run_of(params: dict[str, Any]) -> int:
    for key in ("retry_run_id", "rerun_run_id", "run_id"):
        value = params.get(key)
        if isinstance(value, int):
            return value
    run_ids = params.get("run_ids")
    if isinstance(run_ids, list) and run_ids and isinstance(run_ids[0], int):
        return run_ids[0]
    return 0


def audit_row(entry: Any) -> AuditRow:
    """An AuditRow from an AuditEntry or a row of AUDIT's columns (the same attribute names)."""
    params = dict(entry.params or {})
    return AuditRow(
        audit_id=entry.audit_id or 0,
        ts=iso(entry.ts) or "",
        actor=entry.actor,
        role=entry.role,
        action=entry.action,
        target=entry.target,
        outcome=entry.outcome,
        reason=entry.reason,
        params=json.dumps(params, sort_keys=True, separators=(",", ":")),
        detail=entry.detail,
        run_id=_run_of(params),
    )


def encode_cursor(ts: datetime, audit_id: int) -> str:
    return f"{iso(ts)}|{audit_id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        stamp, _, ident = cursor.partition("|")
        return as_utc(datetime.fromisoformat(stamp.replace("Z", "+00:00"))), int(ident)
    except ValueError as error:
        raise AuditQueryError(
            "this page link is no longer valid: go back to the first page of the audit"
        ) from error


def _before(cursor: str) -> ColumnElement[bool]:
    ts, audit_id = decode_cursor(cursor)
    return or_(
        col(AuditEntry.ts) < ts,
        and_(col(AuditEntry.ts) == ts, col(AuditEntry.audit_id) < audit_id),
    )


def audit_page(
    session: Session, filters: AuditFilter, *, cursor: str = "", limit: int = PAGE_SIZE
) -> AuditPage:
    """One page of entries matching `filters`, newest first, after `cursor`."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise AuditQueryError(f"a page holds 1 to {MAX_PAGE_SIZE} entries, not {limit}")
    # Plain column rows, not ORM objects: an export reads every row this way.
    query = sa_select(AUDIT).where(*filters.conditions())
    if cursor:
        query = query.where(_before(cursor))
    query = query.order_by(col(AuditEntry.ts).desc(), col(AuditEntry.audit_id).desc())
    entries = list(session.execute(query.limit(limit + 1)))
    more = len(entries) > limit
    entries = entries[:limit]
    last = entries[-1] if entries else None
    return AuditPage(
        rows=[audit_row(entry) for entry in entries],
        next_cursor=encode_cursor(last.ts, last.audit_id or 0) if more and last else "",
    )


def iter_audit(session: Session, filters: AuditFilter) -> Iterator[AuditRow]:
    """Every matching entry, newest first, read in keyset batches."""
    cursor = ""
    while True:
        page = audit_page(session, filters, cursor=cursor, limit=EXPORT_BATCH)
        yield from page.rows
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def csv_header() -> str:
    return _csv_line(CSV_COLUMNS)


def csv_row(row: AuditRow) -> str:
    return _csv_line(tuple(str(getattr(row, name)) for name in CSV_COLUMNS))


def _csv_line(values: tuple[str, ...]) -> str:
    out = io.StringIO()
    # A cell starting with = + - @ would run as a formula in a spreadsheet: quote it as text.
    safe = tuple("'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v for v in values)
    csv.writer(out, lineterminator="\r\n").writerow(safe)
    return out.getvalue()


def _about_run(run: Run) -> ColumnElement[bool]:
    """Entries about `run`: actions on it (target "run N (job)"), the action that created it
    (a retry or rerun names it in params), and the trigger of its batch."""
    run_id = run.run_id or 0
    params: Any = AuditEntry.params
    return or_(
        col(AuditEntry.target).startswith(f"run {run_id} (", autoescape=True),
        col(AuditEntry.target) == f"run {run_id}",
        cast(params["retry_run_id"].as_string(), String) == str(run_id),
        cast(params["rerun_run_id"].as_string(), String) == str(run_id),
        and_(
            col(AuditEntry.target) == run.job_id,
            params["batch_id"].as_string() == run.batch_id,
        ),
    )


def audit_for_run(session: Session, run_id: int) -> list[AuditRow]:
    """The audit entries about one run, oldest first (empty for an unknown run)."""
    run = session.get(Run, run_id)
    if run is None:
        return []
    since = as_utc(run.queued_at) - RUN_AUDIT_SLACK
    query = (
        select(AuditEntry)
        .where(col(AuditEntry.ts) >= since, _about_run(run))
        .order_by(col(AuditEntry.ts), col(AuditEntry.audit_id))
        .limit(RUN_AUDIT_LIMIT)
    )
    return [audit_row(entry) for entry in session.exec(query)]


def known_actions(session: Session) -> list[str]:
    """Distinct action names, for the filter's choices (a short list: actions are a fixed set)."""
    rows = session.exec(select(AuditEntry.action).distinct().order_by(col(AuditEntry.action)))
    return [str(action) for action in rows]


def _moment(name: str, value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise AuditQueryError(
            f"{name} must be a UTC date or time such as 2026-05-01 or 2026-05-01T14:30, "
            f"not {value!r}"
        ) from error
    return as_utc(moment)


def parse_filter(fields: Mapping[str, str]) -> AuditFilter:
    """A filter from form or query fields (actor, action, target, since, until: UTC).

    A bare `until` date means the end of that day, so since=until=one day shows that day.
    """
    for name in ("actor", "action", "target", "since", "until"):
        if "\x00" in str(fields.get(name) or ""):
            # Nothing stored can hold a NUL (PostgreSQL refuses it in text).
            raise AuditQueryError(f"'{name}' contains a NUL character: remove it")
    until_text = str(fields.get("until") or "").strip()
    until = _moment("until", until_text)
    if until is not None and len(until_text) == 10:
        until += timedelta(days=1)
    since = _moment("since", str(fields.get("since") or ""))
    if since is not None and until is not None and since >= until:
        raise AuditQueryError("'since' must be before 'until'")
    return AuditFilter(
        actor=str(fields.get("actor") or "")[:128],
        action=str(fields.get("action") or "")[:64],
        target=str(fields.get("target") or "")[:256],
        since=since,
        until=until,
    )


def filter_query(filters: AuditFilter) -> str:
    """The query string that gives `filters` back through parse_filter (for the export link)."""
    pairs = {
        "actor": filters.actor,
        "action": filters.action,
        "target": filters.target,
        "since": iso(filters.since) or "",
        "until": iso(filters.until) or "",
    }
    return urlencode({key: value for key, value in pairs.items() if value})
