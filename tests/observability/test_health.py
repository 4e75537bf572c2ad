"""The health check against the real database and Redis, and its verdict rules."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest

from etl_orchestrator import config, db, redis_conn
from etl_orchestrator.db import db_now, session_scope
from etl_orchestrator.engine.leader import record_heartbeat
from etl_orchestrator.models import Job, Run, Setting, WorkerRecord
from etl_orchestrator.observability import health
from etl_orchestrator.observability.health import Probe, assess, check_health
from etl_orchestrator.states import RunStatus


def _reset_caches() -> None:
    config.get_settings.cache_clear()
    redis_conn.sync_client.cache_clear()
    db.dispose_engines()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def database_clock() -> datetime:
    with session_scope() as session:
        return db_now(session)


@pytest.fixture
def add_worker() -> Callable[..., None]:
    def add(
        worker_id: str,
        *,
        beat: datetime,
        running: int = 0,
        stopped: datetime | None = None,
    ) -> None:
        host, _, pid = worker_id.rpartition(":")
        with session_scope() as session:
            session.add(
                WorkerRecord(
                    worker_id=worker_id,
                    host=host,
                    pid=int(pid),
                    started_at=beat,
                    last_heartbeat_at=beat,
                    running=running,
                    stopped_at=stopped,
                )
            )

    return add


@pytest.fixture
def add_runs() -> Callable[..., None]:
    """Runs of one job in the given statuses; retrying runs take `next_attempt_at`."""

    def add(*statuses: RunStatus, next_attempt_at: datetime | None = None) -> None:
        with session_scope() as session:
            if session.get(Job, "health_job") is None:
                session.add(Job(job_id="health_job", name="health job"))
                session.flush()
            for status in statuses:
                session.add(
                    Run(
                        job_id="health_job",
                        batch_id="b",
                        status=status,
                        next_attempt_at=next_attempt_at,
                    )
                )

    return add


def beat_as_scheduler(age_s: float = 0.0) -> None:
    with session_scope() as session:
        record_heartbeat(session, "scheduler:sched-host:7", "sched-host", 7, leading=True)
    if age_s:
        with session_scope() as session:
            row = session.get(WorkerRecord, "scheduler:sched-host:7")
            assert row is not None
            row.last_heartbeat_at = db_now(session) - timedelta(seconds=age_s)
            session.add(row)


def test_health_counts_live_workers_slots_and_queue_from_the_database(
    add_worker: Callable[..., None], add_runs: Callable[..., None]
) -> None:
    now = database_clock()
    add_worker("host-a:11", beat=now - timedelta(seconds=2), running=2)
    add_worker("host-b:12", beat=now - timedelta(seconds=60))
    add_worker("host-c:13", beat=now, stopped=now)
    beat_as_scheduler()
    add_runs(RunStatus.DISPATCHED, RunStatus.RUNNING, RunStatus.QUEUED, RunStatus.WAITING)
    add_runs(RunStatus.SUCCEEDED, RunStatus.FAILED)
    add_runs(RunStatus.RETRYING, next_attempt_at=now - timedelta(seconds=1))
    add_runs(RunStatus.RETRYING, next_attempt_at=now + timedelta(hours=1))

    report = check_health()

    assert report.status == "ok", report.problems
    assert report.problems == []
    assert report.database.reachable
    assert report.redis.reachable
    assert report.cap == 4
    assert report.slots_in_use == 2
    assert report.queue_depth == 3
    assert [(w.worker_id, w.host, w.pid, w.running) for w in report.workers] == [
        ("host-a:11", "host-a", 11, 2)
    ]
    assert 1.5 <= report.workers[0].heartbeat_age_s < health.WORKER_LIVE_S
    assert report.scheduler_heartbeat_age_s is not None
    assert report.scheduler_heartbeat_age_s < health.SCHEDULER_STALE_S


def test_a_worker_counts_as_live_for_three_heartbeats(add_worker: Callable[..., None]) -> None:
    beat = database_clock()
    add_worker("host-a:11", beat=beat)

    assert [w.pid for w in check_health(now=beat + timedelta(seconds=14)).workers] == [11]
    assert check_health(now=beat + timedelta(seconds=16)).workers == []


def test_nothing_running_is_degraded_and_says_what_to_start() -> None:
    report = check_health()

    assert report.status == "degraded"
    assert report.problems == [
        "No scheduler heartbeat: start one with `etl-orchestrator scheduler`.",
        "No live workers: start one with `etl-orchestrator worker`.",
    ]


def test_a_stale_scheduler_heartbeat_is_degraded(add_worker: Callable[..., None]) -> None:
    add_worker("host-a:11", beat=database_clock())
    beat_as_scheduler(age_s=40)

    report = check_health()

    assert report.status == "degraded"
    assert report.scheduler_heartbeat_age_s is not None
    assert report.scheduler_heartbeat_age_s >= 40
    assert len(report.problems) == 1
    assert "last heartbeat was 40 s ago" in report.problems[0]


def test_health_serialises_to_json_with_utc_time(add_worker: Callable[..., None]) -> None:
    add_worker("host-a:11", beat=database_clock())

    body = json.loads(json.dumps(check_health().model_dump(mode="json")))

    assert body["status"] == "degraded"
    assert body["workers"][0]["host"] == "host-a"
    assert datetime.fromisoformat(body["checked_at"]).utcoffset() == timedelta(0)


def test_redis_down_is_degraded_with_what_to_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    _reset_caches()

    report = check_health()

    assert report.status == "degraded"
    assert not report.redis.reachable
    assert report.redis.latency_ms is None
    assert report.database.reachable
    assert report.problems[0].startswith("Redis unreachable (")
    assert "check REDIS_URL" in report.problems[0]


def test_database_down_is_down_and_nothing_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{_closed_port()}/none")
    _reset_caches()

    report = check_health()

    assert report.status == "down"
    assert not report.database.reachable
    assert report.database.error
    assert report.redis.reachable
    assert (report.cap, report.slots_in_use, report.queue_depth) == (None, None, None)
    assert len(report.problems) == 1
    assert "check DATABASE_URL" in report.problems[0]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung database)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()  # the hung probe now fails, and its thread ends
    listener.close()
    probe = health._in_flight.get("database")
    assert probe is None or probe.done.wait(10)


def test_a_database_that_never_answers_costs_a_bounded_wait(
    monkeypatch: pytest.MonkeyPatch, silent_server: int
) -> None:
    monkeypatch.setattr(health, "DATABASE_TIMEOUT_S", 0.5)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{silent_server}/none")
    _reset_caches()

    first = check_health()
    second = check_health()

    assert first.status == "down"
    assert first.database.error == "no answer within 0.5 s"
    # The first probe still hangs: no second thread piles up behind it.
    assert second.status == "down"
    assert (second.database.error or "").startswith("no answer to the previous check either")


def test_missing_tables_are_reported_as_such(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    _reset_caches()

    report = check_health()

    assert report.status == "degraded"
    assert report.database.reachable
    assert "run `etl-orchestrator db upgrade`" in report.problems[0]
    assert not any("No live workers" in line for line in report.problems)


UP = Probe(reachable=True, latency_ms=1.0)
DOWN = Probe(reachable=False, error="refused")


@pytest.mark.parametrize(
    ("database", "redis_probe", "scheduler_age_s", "workers", "status", "problem_starts"),
    [
        (UP, UP, 2.0, 1, "ok", []),
        (UP, UP, 15.0, 1, "ok", []),
        (UP, UP, 15.1, 1, "degraded", ["The scheduler's last heartbeat"]),
        (UP, UP, None, 1, "degraded", ["No scheduler heartbeat"]),
        (UP, UP, 2.0, 0, "degraded", ["No live workers"]),
        (UP, DOWN, 2.0, 1, "degraded", ["Redis unreachable"]),
        (DOWN, UP, None, 0, "down", ["Database unreachable"]),
        (DOWN, DOWN, None, 0, "down", ["Database unreachable", "Redis unreachable"]),
    ],
)
def test_assess_rules(
    database: Probe,
    redis_probe: Probe,
    scheduler_age_s: float | None,
    workers: int,
    status: str,
    problem_starts: list[str],
) -> None:
    verdict, problems = assess(
        database=database,
        redis_probe=redis_probe,
        tables_error=None,
        scheduler_age_s=scheduler_age_s,
        live_workers=workers,
    )

    assert verdict == status
    assert len(problems) == len(problem_starts)
    assert all(line.startswith(start) for line, start in zip(problems, problem_starts, strict=True))


def test_every_problem_says_what_to_do() -> None:
    _status, problems = assess(
        database=UP, redis_probe=DOWN, tables_error=None, scheduler_age_s=99.0, live_workers=0
    )

    assert len(problems) == 3
    assert all(("`etl-orchestrator" in line) or ("check " in line) for line in problems)


def test_the_check_writes_nothing(add_worker: Callable[..., None]) -> None:
    add_worker("host-a:11", beat=database_clock())

    assert check_health().cap == 4

    with session_scope() as session:
        # Reading the cap would seed its row; the check rolls that back.
        assert session.get(Setting, "parallel_jobs") is None
