"""The system's health: database, Redis, scheduler heartbeat, live workers, slots and queue.

`check_health()` never raises and never hangs: each probe runs in a daemon thread with a deadline,
at most one per kind at a time, so a server that stops answering costs a bounded wait and a
clear problem line, not a stuck console.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

import redis
from pydantic import BaseModel
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, text
from sqlmodel import Session, col, select

from etl_orchestrator.db import db_now, get_engine, is_sqlite
from etl_orchestrator.models import Run, WorkerRecord
from etl_orchestrator.redis_conn import redis_url
from etl_orchestrator.services import settings
from etl_orchestrator.states import HOLDS_SLOT, RunStatus
from etl_orchestrator.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

DATABASE_TIMEOUT_S = 3.0
REDIS_TIMEOUT_S = 1.0
#: Workers heartbeat every 5 s (engine/worker.py); three missed beats and a worker counts as gone.
WORKER_LIVE_S = 3 * 5.0
SCHEDULER_STALE_S = 15.0
#: dw_etl_workers rows of schedulers carry this prefix (engine/leader.py); they are not workers.
SCHEDULER_ROW_PREFIX = "scheduler:"
Status = Literal["ok", "degraded", "down"]


class Probe(BaseModel):
    """Whether a server answered, how fast (ms), and if not, why."""

    reachable: bool
    latency_ms: float | None = None
    error: str | None = None


class LiveWorker(BaseModel):
    worker_id: str
    host: str
    pid: int
    running: int
    heartbeat_age_s: float


class Health(BaseModel):
    """What `check_health()` found; `model_dump(mode="json")` is the /api/health body."""

    status: Status
    checked_at: datetime
    database: Probe
    redis: Probe
    #: Seconds since the leading scheduler's last heartbeat; None when no scheduler leads.
    scheduler_heartbeat_age_s: float | None = None
    workers: list[LiveWorker] = []
    #: The parallel-jobs cap in use, and runs holding a slot (dispatched + running).
    cap: int | None = None
    slots_in_use: int | None = None
    #: Runs waiting for a slot or an upstream: queued + waiting + retrying that are due.
    queue_depth: int | None = None
    problems: list[str] = []


class ProbeTimeout(TimeoutError):
    pass


@dataclass
class _Call(Generic[T]):
    """One probe running in a daemon thread (a hung server must not keep the process alive)."""

    fn: Callable[[], T]
    started: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    value: T | None = None
    error: BaseException | None = None

    def start(self) -> _Call[T]:
        threading.Thread(target=self._run, name="etl-health-probe", daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as error:
            self.error = error
        finally:
            self.done.set()


_in_flight: dict[str, _Call[Any]] = {}
_in_flight_lock = threading.Lock()


def _start(kind: str, fn: Callable[[], T]) -> _Call[T] | None:
    """Start a probe unless the previous one of this kind still hangs (then None)."""
    with _in_flight_lock:
        previous = _in_flight.get(kind)
        if previous is not None and not previous.done.is_set():
            return None
        call = _in_flight[kind] = _Call(fn).start()
        return call


def _finish(kind: str, call: _Call[T] | None, timeout_s: float) -> T:
    """The probe's result; raises its error, or ProbeTimeout past the deadline."""
    if call is None:
        hung = _in_flight.get(kind)
        waited = time.monotonic() - hung.started if hung is not None else 0.0
        raise ProbeTimeout(f"no answer to the previous check either ({waited:.0f} s ago)")
    if not call.done.wait(timeout_s):
        raise ProbeTimeout(f"no answer within {timeout_s:g} s")
    if call.error is not None:
        raise call.error
    return call.value  # type: ignore[return-value]


def _short(error: BaseException) -> str:
    """The first line of the driver's message, without SQLAlchemy's background link."""
    message = str(getattr(error, "orig", None) or error).strip() or type(error).__name__
    return message.splitlines()[0][:300]


@dataclass
class _DatabaseFacts:
    latency_ms: float
    now: datetime
    error: str | None = None
    scheduler_age_s: float | None = None
    workers: list[LiveWorker] = field(default_factory=list)
    cap: int | None = None
    slots_in_use: int | None = None
    queue_depth: int | None = None


def _scheduler_age(session: Session) -> float | None:
    """From engine/leader.py when this installation has it; None otherwise (or if it fails)."""
    try:
        leader = importlib.import_module("etl_orchestrator.engine.leader")
        age_of = getattr(leader, "scheduler_heartbeat_age", None)
        age = age_of(session) if age_of is not None else None
    except Exception as error:
        log.warning("health: could not read the scheduler heartbeat: %s", error)
        return None
    return None if age is None else float(age)


def _live_workers(session: Session, now: datetime) -> list[LiveWorker]:
    rows = session.exec(
        select(WorkerRecord)
        .where(
            col(WorkerRecord.stopped_at).is_(None),
            col(WorkerRecord.last_heartbeat_at) >= now - timedelta(seconds=WORKER_LIVE_S),
            ~col(WorkerRecord.worker_id).startswith(SCHEDULER_ROW_PREFIX),
        )
        .order_by(col(WorkerRecord.host), col(WorkerRecord.pid))
    )
    return [
        LiveWorker(
            worker_id=row.worker_id,
            host=row.host,
            pid=row.pid,
            running=row.running,
            heartbeat_age_s=max(0.0, (now - as_utc(row.last_heartbeat_at)).total_seconds()),
        )
        for row in rows
    ]


def _run_counts(session: Session, now: datetime) -> tuple[int, int]:
    """(slots in use, queue depth)."""
    rows = session.execute(
        select(Run.status, func.count())
        .where(col(Run.status).in_([*HOLDS_SLOT, RunStatus.QUEUED, RunStatus.WAITING]))
        .group_by(Run.status)
    )
    by_status: dict[str, int] = {status: int(count) for status, count in rows}
    due_retrying = session.exec(
        select(func.count()).where(
            col(Run.status) == RunStatus.RETRYING, col(Run.next_attempt_at) <= now
        )
    ).one()
    slots = sum(by_status.get(status, 0) for status in HOLDS_SLOT)
    queued = by_status.get(RunStatus.QUEUED, 0) + by_status.get(RunStatus.WAITING, 0)
    return slots, queued + int(due_retrying)


def _database_facts(now: datetime | None) -> _DatabaseFacts:
    """SELECT 1 (its latency), then the figures; a failure after SELECT 1 is kept, not raised.

    Read-only: the transaction is rolled back, so a check never writes (not even a seed row).
    """
    with Session(get_engine()) as session:
        started = time.perf_counter()
        session.execute(text("SELECT 1"))
        facts = _DatabaseFacts(
            latency_ms=round((time.perf_counter() - started) * 1000, 2), now=now or utcnow()
        )
        try:
            if not is_sqlite(session):
                session.execute(text("SET LOCAL statement_timeout = 2000"))
            facts.now = as_utc(now) if now is not None else db_now(session)
            facts.cap = settings.parallel_jobs(session)
            facts.slots_in_use, facts.queue_depth = _run_counts(session, facts.now)
            facts.workers = _live_workers(session, facts.now)
        except Exception as error:
            log.warning("health: the database answers but its tables could not be read: %s", error)
            facts.error = _short(error)
            return facts
        facts.scheduler_age_s = _scheduler_age(session)
        return facts


def _ping_redis() -> float:
    client = redis.Redis.from_url(
        redis_url(),
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        started = time.perf_counter()
        client.ping()
        return round((time.perf_counter() - started) * 1000, 2)
    finally:
        client.close()


def assess(
    *,
    database: Probe,
    redis_probe: Probe,
    tables_error: str | None,
    scheduler_age_s: float | None,
    live_workers: int,
) -> tuple[Status, list[str]]:
    """The overall status and one line per problem, each saying what to do."""
    problems: list[str] = []
    if not database.reachable:
        problems.append(
            f"Database unreachable ({database.error}): check DATABASE_URL and that the "
            "database server is running; nothing is scheduled or recorded until it is back."
        )
    elif tables_error is not None:
        problems.append(
            f"The database answers but the orchestrator tables could not be read "
            f"({tables_error}): run `etl-orchestrator db upgrade`, then check the database log."
        )
    if not redis_probe.reachable:
        problems.append(
            f"Redis unreachable ({redis_probe.error}): check REDIS_URL and that Redis is "
            "running; runs wait in the queue until it is back."
        )
    if database.reachable and tables_error is None:
        if scheduler_age_s is None:
            problems.append("No scheduler heartbeat: start one with `etl-orchestrator scheduler`.")
        elif scheduler_age_s > SCHEDULER_STALE_S:
            problems.append(
                f"The scheduler's last heartbeat was {scheduler_age_s:.0f} s ago (more than "
                f"{SCHEDULER_STALE_S:g} s): check its log, or start another with "
                "`etl-orchestrator scheduler` (a standby takes over)."
            )
        if live_workers == 0:
            problems.append("No live workers: start one with `etl-orchestrator worker`.")
    if not database.reachable:
        return "down", problems
    return ("degraded" if problems else "ok"), problems


def check_health(*, now: datetime | None = None) -> Health:
    """Probe everything the engine needs; `now` replaces the database clock (for tests)."""
    try:
        return _check(now)
    except Exception as error:  # every probe is guarded; this is the last line of defence
        log.exception("the health check failed")
        unknown = Probe(reachable=False, error="not checked")
        return Health(
            status="degraded",
            checked_at=utcnow(),
            database=unknown,
            redis=unknown,
            problems=[f"The health check itself failed ({_short(error)}): see the server log."],
        )


def _check(now: datetime | None) -> Health:
    database_call = _start("database", lambda: _database_facts(now))
    redis_call = _start("redis", _ping_redis)
    facts: _DatabaseFacts | None = None
    try:
        facts = _finish("database", database_call, DATABASE_TIMEOUT_S)
        database = Probe(reachable=True, latency_ms=facts.latency_ms)
    except Exception as error:
        database = Probe(reachable=False, error=_short(error))
    try:
        redis_probe = Probe(
            reachable=True, latency_ms=_finish("redis", redis_call, REDIS_TIMEOUT_S + 0.5)
        )
    except Exception as error:
        redis_probe = Probe(reachable=False, error=_short(error))
    status, problems = assess(
        database=database,
        redis_probe=redis_probe,
        tables_error=facts.error if facts else None,
        scheduler_age_s=facts.scheduler_age_s if facts else None,
        live_workers=len(facts.workers) if facts else 0,
    )
    return Health(
        status=status,
        checked_at=facts.now if facts else (now or utcnow()),
        database=database,
        redis=redis_probe,
        scheduler_heartbeat_age_s=facts.scheduler_age_s if facts else None,
        workers=facts.workers if facts else [],
        cap=facts.cap if facts else None,
        slots_in_use=facts.slots_in_use if facts else None,
        queue_depth=facts.queue_depth if facts else None,
        problems=problems,
    )
