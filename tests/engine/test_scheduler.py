"""Scheduler processes as asyncio tasks: one leads, ticks fire once, standbys take over."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from sqlmodel import col, select

from etl_orchestrator import config, db, redis_conn
from etl_orchestrator.config import ConfigError
from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.leader import LEADER_KEY, scheduler_heartbeat_age
from etl_orchestrator.engine.scheduler import (
    ALERTS_MODULE,
    FAULT_NO_REAPER_ENV,
    REAPER_MODULE,
    RETENTION_MODULE,
    Hook,
    Scheduler,
)
from etl_orchestrator.jobs import RunContext
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import Job, Run, Setting, WorkerRecord
from tests.engine.conftest import spec

T0 = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def noop(ctx: RunContext) -> None:
    """Never runs: no worker in these tests."""


@dataclass
class FakeClock:
    """The tick passes' clock; the lease and the dispatcher keep real time."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def at_minute(self, minute: int) -> None:
        self.now = T0 + minute * MINUTE + timedelta(seconds=1)


@dataclass
class Fleet:
    """Scheduler instances in this test's event loop, sharing one fake clock."""

    specs: dict[str, JobSpec]
    clock: FakeClock = field(default_factory=FakeClock)
    running: dict[str, tuple[Scheduler, asyncio.Task[None]]] = field(default_factory=dict)

    def start(self, name: str, **kwargs: Any) -> Scheduler:
        options: dict[str, Any] = {
            "lease_ttl_s": 1.0,
            "poll_s": 0.05,
            "tick_s": 0.05,
            "heartbeat_s": 0.1,
            "dispatcher_idle_s": 0.2,
            "clock": self.clock,
            "specs": self.specs,
            "hooks": [],
            "instance": name,
        }
        options.update(kwargs)
        scheduler = Scheduler(**options)
        self.running[name] = (scheduler, asyncio.create_task(scheduler.run()))
        return scheduler

    def leaders(self) -> list[str]:
        return [name for name, (s, task) in self.running.items() if s.is_leader and not task.done()]

    async def stop(self, name: str) -> None:
        """A clean shutdown: the lease is handed over at once."""
        scheduler, task = self.running.pop(name)
        scheduler.stop()
        async with asyncio.timeout(10):
            await task

    async def kill(self, name: str) -> None:
        """Like a dead process: its lease is left to expire."""
        _, task = self.running.pop(name)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close(self) -> None:
        for name in list(self.running):
            await self.kill(name)


@pytest.fixture
async def fleet() -> AsyncIterator[Callable[..., Fleet]]:
    fleets: list[Fleet] = []

    def make(*specs: JobSpec) -> Fleet:
        declared = {item.id: item for item in specs}
        with session_scope() as session:
            sync_jobs(session, declared, now=T0)
        fleets.append(Fleet(specs=declared))
        return fleets[-1]

    yield make
    for item in fleets:
        await item.close()


async def until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def ticks(job_id: str) -> list[datetime]:
    with session_scope() as session:
        rows = session.exec(
            select(Run.scheduled_for)
            .where(Run.job_id == job_id, Run.trigger == "schedule")
            .order_by(col(Run.scheduled_for))
        ).all()
    return [row for row in rows if row is not None]


def minutes(*values: int) -> list[datetime]:
    return [T0 + value * MINUTE for value in values]


async def fire(fleet: Fleet, minute: int, job_id: str = "every_minute") -> None:
    fleet.clock.at_minute(minute)
    await until(lambda: T0 + minute * MINUTE in ticks(job_id))


async def test_two_schedulers_fire_each_tick_once_and_the_standby_takes_over_a_dead_leader(
    fleet: Callable[..., Fleet],
) -> None:
    group = fleet(spec("every_minute", noop, cron="* * * * *"))
    group.start("a")
    group.start("b")
    await until(lambda: len(group.leaders()) == 1)
    first = group.leaders()[0]
    for minute in (1, 2, 3):
        await fire(group, minute)
    await group.kill(first)
    await until(lambda: len(group.leaders()) == 1)
    assert group.leaders() != [first]
    for minute in (4, 5):
        await fire(group, minute)
    assert ticks("every_minute") == minutes(1, 2, 3, 4, 5)


async def test_a_restarted_scheduler_fires_the_latest_missed_tick_once(
    fleet: Callable[..., Fleet],
) -> None:
    group = fleet(spec("every_minute", noop, cron="* * * * *"))
    group.start("first")
    await fire(group, 1)
    await group.stop("first")
    group.clock.at_minute(4)  # minutes 2-4 pass while nothing runs
    group.start("second")
    await until(lambda: len(ticks("every_minute")) == 2)
    await fire(group, 5)
    assert ticks("every_minute") == minutes(1, 4, 5)
    with session_scope() as session:
        job = session.get(Job, "every_minute")
        assert job is not None
        assert job.next_run_at == T0 + 6 * MINUTE


async def test_a_leader_that_loses_its_lease_stops_ticking_at_once(
    fleet: Callable[..., Fleet], redis_db: str
) -> None:
    group = fleet(spec("every_minute", noop, cron="* * * * *"))
    scheduler = group.start("a", lease_ttl_s=3.0)
    await until(lambda: scheduler.is_leader)
    await fire(group, 1)
    client = redis.Redis.from_url(redis_db)
    client.set(LEADER_KEY, "usurper 999", px=60_000)  # another scheduler took over
    client.close()
    await until(lambda: not scheduler.is_leader, timeout_s=20)
    group.clock.at_minute(2)
    await asyncio.sleep(0.5)  # ten tick intervals
    assert ticks("every_minute") == minutes(1)


async def test_only_the_leader_calls_the_hooks(fleet: Callable[..., Fleet]) -> None:
    group = fleet()
    calls: dict[str, int] = {"a": 0, "b": 0}

    def counter(name: str) -> Hook:
        def count() -> None:
            calls[name] += 1

        return Hook(name=f"count-{name}", fn=count, every_s=0.05)

    async def async_count() -> None:
        calls["async"] = calls.get("async", 0) + 1

    group.start("a", hooks=[counter("a"), Hook("async", async_count, 0.05)])
    await until(lambda: group.leaders() == ["a"])
    group.start("b", hooks=[counter("b")])
    await until(lambda: calls["a"] >= 3 and calls.get("async", 0) >= 3)
    assert calls["b"] == 0


def test_the_default_hooks_are_the_installed_reaper_retention_and_alerts() -> None:
    installed = {
        name
        for name, module in (
            ("reaper", REAPER_MODULE),
            ("retention", RETENTION_MODULE),
            ("alerts", ALERTS_MODULE),
        )
        if importlib.util.find_spec(module) is not None
    }
    assert {hook.name for hook in Scheduler().hooks} == installed


def test_a_heartbeat_lease_shorter_than_the_reaper_interval_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ETL_HEARTBEAT_LEASE_S", "3")
    with pytest.raises(ConfigError, match="ETL_HEARTBEAT_LEASE_S=3 is too short"):
        Scheduler()


def test_the_fault_switch_leaves_the_reaper_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_NO_REAPER_ENV, "1")
    assert "reaper" not in {hook.name for hook in Scheduler().hooks}


async def test_the_leader_runs_the_installed_reaper_and_retention_without_errors(
    fleet: Callable[..., Fleet], caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip(REAPER_MODULE)
    retention = pytest.importorskip("etl_orchestrator.services.retention_settings")
    group = fleet()
    leader = group.start("a", hooks=None)
    await until(lambda: leader.is_leader)

    def seeded() -> bool:
        with session_scope() as session:
            return session.get(Setting, retention.LOGS_DAYS) is not None

    await until(seeded)  # the retention pass writes its default settings first
    await asyncio.sleep(0.2)  # the reaper's first pass runs at once too
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert [m for m in failures if "reaper" in m or "retention" in m] == []


async def test_the_heartbeat_marks_the_leader_and_a_clean_stop_clears_it(
    fleet: Callable[..., Fleet],
) -> None:
    group = fleet()
    leader = group.start("a")
    await until(lambda: leader.is_leader)
    standby = group.start("b")

    def rows() -> dict[str, int]:
        with session_scope() as session:
            records = session.exec(select(WorkerRecord)).all()
            return {r.worker_id: r.running for r in records if r.stopped_at is None}

    await until(lambda: rows() == {leader.worker_id: 1, standby.worker_id: 0})
    with session_scope() as session:
        assert scheduler_heartbeat_age(session) is not None
    await group.stop("a")
    await group.stop("b")
    with session_scope() as session:
        assert scheduler_heartbeat_age(session) is None


async def test_a_scheduler_waits_out_a_redis_outage_without_exiting(
    fleet: Callable[..., Fleet],
) -> None:
    group = fleet()
    scheduler = group.start("cut-off", redis_url="redis://127.0.0.1:1/0")
    await asyncio.sleep(0.5)
    assert not scheduler.is_leader
    assert not group.running["cut-off"][1].done()
    await group.stop("cut-off")


def _point_database_at(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    config.get_settings.cache_clear()
    redis_conn.sync_client.cache_clear()
    db.dispose_engines()


async def test_the_leader_survives_a_database_outage_and_ticks_once_it_is_back(
    fleet: Callable[..., Fleet], pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = fleet(spec("every_minute", noop, cron="* * * * *"))
    _point_database_at("postgresql://postgres@127.0.0.1:1/unreachable", monkeypatch)
    scheduler = group.start("a")
    group.clock.at_minute(1)
    await until(lambda: scheduler.is_leader)
    await asyncio.sleep(0.3)  # several failed tick passes
    assert not group.running["a"][1].done()
    _point_database_at(pg_url, monkeypatch)
    await until(lambda: ticks("every_minute") == minutes(1), timeout_s=40)
