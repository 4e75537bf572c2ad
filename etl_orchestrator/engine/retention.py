"""Retention: deletes old log lines, run events and audit rows in small batches; never runs.

The scheduler calls `cleanup_pass()` every minute. When nothing is old enough it costs one short
transaction (the settings and one indexed probe per table). Otherwise it deletes in batches of
`batch` rows, each in its own short transaction, walking the primary key (keyset, never OFFSET),
and stops after `max_batches` per table so one pass never holds the scheduler for long: the
rest goes on the next pass. Log lines and events of runs that are not finished yet are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Table, delete, exists, select, tuple_
from sqlmodel import Session

from etl_orchestrator.db import db_now, session_scope
from etl_orchestrator.models import AuditEntry, Run, RunEvent, RunLog
from etl_orchestrator.services import retention_settings as retention
from etl_orchestrator.states import FINAL
from etl_orchestrator.timeutil import as_utc

log = logging.getLogger(__name__)

RUNS: Table = Run.metadata.tables["dw_etl_runs"]
RUN_LOGS: Table = RunLog.metadata.tables["dw_etl_run_logs"]
RUN_EVENTS: Table = RunEvent.metadata.tables["dw_etl_run_events"]
AUDIT: Table = AuditEntry.metadata.tables["dw_etl_audit"]


@dataclass(frozen=True)
class Target:
    """One kind of row with a retention period."""

    name: str
    setting: str
    table: Table
    #: Only rows of runs in a final state go (the row has a run_id column).
    finished_runs_only: bool

    @property
    def key(self) -> tuple[Column[Any], ...]:
        return tuple(self.table.primary_key.columns)


TARGETS = (
    Target("logs", retention.LOGS_DAYS, RUN_LOGS, finished_runs_only=True),
    Target("run_events", retention.RUN_EVENTS_DAYS, RUN_EVENTS, finished_runs_only=True),
    Target("audit", retention.AUDIT_DAYS, AUDIT, finished_runs_only=False),
)

Transaction = Callable[[], AbstractContextManager[Session]]


def cleanup_pass(
    session: Session | None = None,
    *,
    now: datetime | None = None,
    batch: int = 5000,
    max_batches: int = 20,
) -> dict[str, int]:
    """Delete what is past its retention; returns rows deleted per kind.

    Without `session`, each batch commits on its own; with one, everything happens in the
    caller's transaction (the caller commits).
    """
    if batch < 1 or max_batches < 1:
        raise ValueError("batch and max_batches must be at least 1")
    transaction: Transaction = session_scope if session is None else _borrowed(session)
    deleted = {target.name: 0 for target in TARGETS}
    with transaction() as first:
        due = _due(first, now)
    for target, cutoff in due:
        deleted[target.name] = _purge(transaction, target, cutoff, batch, max_batches)
    if any(deleted.values()):
        log.info(
            "retention: deleted %s",
            ", ".join(f"{count} {name}" for name, count in deleted.items() if count),
        )
    return deleted


def _borrowed(session: Session) -> Transaction:
    @contextmanager
    def within() -> Iterator[Session]:
        yield session

    return within


def _due(session: Session, now: datetime | None) -> list[tuple[Target, datetime]]:
    """The targets with at least one row older than their cutoff (an indexed probe each)."""
    now = as_utc(now) if now is not None else db_now(session)
    due: list[tuple[Target, datetime]] = []
    for target in TARGETS:
        days = retention.retention_days(session, target.setting)
        if days == 0:
            continue
        cutoff = now - timedelta(days=days)
        if session.execute(select(exists().where(target.table.c.ts < cutoff))).scalar():
            due.append((target, cutoff))
    return due


def _purge(
    transaction: Transaction, target: Target, cutoff: datetime, batch: int, max_batches: int
) -> int:
    deleted = 0
    after: tuple[Any, ...] | None = None
    for _ in range(max_batches):
        with transaction() as session:
            keys = _next_keys(session, target, cutoff, after, batch)
            if keys:
                key = tuple_(*target.key) if len(target.key) > 1 else target.key[0]
                values = keys if len(target.key) > 1 else [k[0] for k in keys]
                result = session.execute(delete(target.table).where(key.in_(values)))
                deleted += result.rowcount  # type: ignore[attr-defined]
        if len(keys) < batch:
            break
        after = keys[-1]
    return deleted


def _next_keys(
    session: Session,
    target: Target,
    cutoff: datetime,
    after: tuple[Any, ...] | None,
    batch: int,
) -> list[tuple[Any, ...]]:
    """The next `batch` primary keys to delete, in key order after `after`.

    Starting after the last batch skips the index entries of rows already deleted, which
    PostgreSQL keeps until vacuum: without it every batch would walk them again.
    """
    table = target.table
    query = select(*target.key).where(table.c.ts < cutoff)
    if target.finished_runs_only:
        query = query.join(RUNS, RUNS.c.run_id == table.c.run_id).where(
            RUNS.c.status.in_(sorted(FINAL))
        )
    if after is not None:
        query = query.where(tuple_(*target.key) > tuple_(*after))
    query = query.order_by(*target.key).limit(batch)
    return [tuple(row) for row in session.execute(query)]
