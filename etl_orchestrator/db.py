"""Database engines and sessions for SQLite and PostgreSQL; no models and no business logic here."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, create_engine, event, func, literal, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from etl_orchestrator.config import get_settings
from etl_orchestrator.timeutil import as_utc

SQLITE_BUSY_TIMEOUT_MS = 30_000
_engines: dict[str, Engine] = {}
_lock = threading.Lock()
#: Engines a forked child inherited: kept referenced and never used. Freeing them would close
#: connections the parent still uses; disposing them would take pool locks (see below).
_inherited: list[Engine] = []

#: Called with the events a committed transaction produced (set by the events module).
AfterCommitHook = Callable[[list[dict[str, Any]]], None]
_after_commit_hooks: list[AfterCommitHook] = []


def normalize_url(url: str) -> str:
    """Accept plain postgres URLs and always use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event own transactions so they can start IMMEDIATE.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Several processes write in the embedded setup: taking the write lock up front means a
        # transaction waits on busy_timeout instead of failing when it later upgrades its lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """A new engine for `url`, configured for concurrent use by several processes."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            poolclass=NullPool,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def get_engine(url: str | None = None) -> Engine:
    """The shared engine of this process for `url` (default: DATABASE_URL)."""
    url = normalize_url(url or get_settings().effective_database_url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def _after_fork_in_child() -> None:
    """A forked child starts with no engines and a fresh registry lock.

    Another thread of the parent may have held the registry lock or a pool's lock at the very
    moment of the fork (the worker forks attempts while its threads write to the database); in
    the child no thread will ever release them, so the child must not take them: it gets a new
    lock and leaves the inherited engines alone.
    """
    global _lock
    _lock = threading.Lock()
    _inherited.extend(_engines.values())
    _engines.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def dispose_engines(*, close: bool = False) -> None:
    """Forget every engine: after a fork close=False (the parent still uses the connections)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=close)
        _engines.clear()


def add_after_commit_hook(hook: AfterCommitHook) -> None:
    if hook not in _after_commit_hooks:
        _after_commit_hooks.append(hook)


def remove_after_commit_hook(hook: AfterCommitHook) -> None:
    if hook in _after_commit_hooks:
        _after_commit_hooks.remove(hook)


def queue_event(session: Session, payload: dict[str, Any]) -> None:
    """Remember an event to publish once this session's transaction commits."""
    session.info.setdefault("etl_outbox", []).append(payload)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back on error, then publish queued events."""
    session = Session(engine or get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
        outbox: list[dict[str, Any]] = session.info.pop("etl_outbox", [])
    except BaseException:
        session.rollback()
        session.info.pop("etl_outbox", None)
        raise
    finally:
        session.close()
    if outbox:
        for hook in list(_after_commit_hooks):
            hook(outbox)


@event.listens_for(Session, "after_transaction_end")
def _forget_now(session: Session, _transaction: Any) -> None:
    session.info.pop("etl_now", None)


def db_now(session: Session, *, fresh: bool = False) -> datetime:
    """The database's clock: leases and heartbeats must not trust each host's clock.

    Read once per transaction (like SQL's now()) unless `fresh`; a transaction is short.
    """
    cached: datetime | None = session.info.get("etl_now")
    if cached is not None and not fresh:
        return cached
    return remember_now(session, session.execute(select(db_clock(session))).scalar_one())


#: How UTCDateTime stores a moment in SQLite (microseconds always written): text sorts as time.
_SQLITE_TS = "%Y-%m-%d %H:%M:%f"


def db_clock(session: Session) -> ColumnElement[Any]:
    """The database clock as a column, to read it along with a query the caller makes anyway."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime(_SQLITE_TS, "now")
    return func.clock_timestamp()


def remember_now(session: Session, raw: datetime | str) -> datetime:
    """Keep a clock reading (see db_clock) as this transaction's db_now()."""
    now = as_utc(datetime.fromisoformat(raw) if isinstance(raw, str) else raw)
    session.info["etl_now"] = now
    return now


def db_time_ago(session: Session, window: timedelta) -> ColumnElement[Any]:
    """The database's clock minus `window`, as an SQL expression: a statement that compares
    timestamps with it needs no round trip to read the clock first (unlike db_now)."""
    if session.get_bind().dialect.name == "sqlite":
        ago = f"-{window.total_seconds():.6f} seconds"
        return func.strftime(_SQLITE_TS, "now", literal(ago))
    return func.now() - literal(window)


#: Ids per IN (...) list: well below SQLite's and psycopg's bound-parameter limits.
IN_CHUNK = 500


def in_chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    """The distinct ids, sorted, in lists short enough for one IN (...) each."""
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), IN_CHUNK):
        yield ordered[start : start + IN_CHUNK]


def is_sqlite_url(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "sqlite"


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"
