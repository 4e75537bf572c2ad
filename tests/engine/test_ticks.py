"""Cron tick passes driven by an injected clock: once per tick, catch-up, DST, refusals."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, model_validator
from sqlmodel import col, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.ticks import TickResult, tick_pass, ticks_to_fire
from etl_orchestrator.jobs import RunContext
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import AuditEntry, Job, Run
from etl_orchestrator.states import RunStatus
from tests.engine.conftest import spec

T0 = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)  # a Monday, noon UTC


def noop(ctx: RunContext) -> None:
    """Never runs here: tick passes only create runs."""


class DayUnlessDefault(BaseModel):
    """Every field has a default, so the job may have a cron; but the defaults do not validate."""

    day: str | None = None

    @model_validator(mode="after")
    def day_is_set(self) -> DayUnlessDefault:
        if self.day is None:
            raise ValueError("day must be set for this load")
        return self


def with_day(ctx: RunContext, p: DayUnlessDefault) -> None:
    """Never runs here."""


Declare = Callable[..., dict[str, JobSpec]]


@pytest.fixture
def declare() -> Declare:
    """Sync the given specs as of `now` (the fake clock's start), returning them."""
    specs: dict[str, JobSpec] = {}

    def run(*items: JobSpec, now: datetime = T0) -> dict[str, JobSpec]:
        specs.update({item.id: item for item in items})
        with session_scope() as session:
            sync_jobs(session, specs, now=now)
        return specs

    return run


def cron_job(job_id: str, cron: str, **kwargs: Any) -> JobSpec:
    return spec(job_id, noop, cron=cron, **kwargs)


def pass_at(now: datetime, specs: dict[str, JobSpec], **kwargs: Any) -> TickResult:
    with session_scope() as session:
        return tick_pass(session, now=now, specs=specs, **kwargs)


def walk(
    specs: dict[str, JobSpec], start: datetime, end: datetime, step: timedelta
) -> list[TickResult]:
    results = []
    now = start
    while now <= end:
        results.append(pass_at(now, specs))
        now += step
    return results


def scheduled(job_id: str) -> list[datetime]:
    with session_scope() as session:
        runs = session.exec(
            select(Run)
            .where(Run.job_id == job_id, Run.trigger == "schedule")
            .order_by(col(Run.scheduled_for))
        ).all()
        return [run.scheduled_for for run in runs if run.scheduled_for is not None]


def next_run_at(job_id: str) -> datetime | None:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.next_run_at


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_a_due_tick_creates_a_schedule_batch_with_its_downstream(
    declare: Declare, any_db: str
) -> None:
    specs = declare(
        cron_job("extract", "0 * * * *"),
        spec("transform", noop, depends_on=["extract"]),
    )
    tick = T0 + timedelta(hours=1)
    assert next_run_at("extract") == tick
    assert pass_at(tick - timedelta(seconds=1), specs).created == []
    result = pass_at(tick + timedelta(seconds=2), specs)
    assert result.created == [("extract", tick)]
    with session_scope() as session:
        runs = {run.job_id: run for run in session.exec(select(Run))}
    assert set(runs) == {"extract", "transform"}
    assert runs["extract"].batch_id == runs["transform"].batch_id
    assert runs["extract"].status == RunStatus.QUEUED
    assert runs["transform"].status == RunStatus.WAITING
    assert {run.trigger for run in runs.values()} == {"schedule"}
    assert {run.scheduled_for for run in runs.values()} == {tick}
    assert runs["extract"].requested_by == "scheduler"
    assert next_run_at("extract") == tick + timedelta(hours=1)


def test_a_tick_seen_again_after_a_restart_is_not_created_twice(declare: Declare) -> None:
    specs = declare(cron_job("hourly", "0 * * * *"))
    tick = T0 + timedelta(hours=1)
    pass_at(tick, specs)
    with session_scope() as session:
        job = session.get(Job, "hourly")
        assert job is not None
        job.next_run_at = tick  # as if the pass had died before moving the job on
        session.add(job)
    again = pass_at(tick + timedelta(seconds=5), specs)
    assert again.created == []
    assert again.existing == [("hourly", tick)]
    assert scheduled("hourly") == [tick]
    assert next_run_at("hourly") == tick + timedelta(hours=1)


def test_two_tick_passes_at_once_create_every_tick_exactly_once(declare: Declare) -> None:
    specs = declare(*(cron_job(f"job_{i}", "* * * * *", catchup="all") for i in range(6)))
    now = T0 + timedelta(minutes=3, seconds=10)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def scheduler() -> None:
        try:
            barrier.wait()
            pass_at(now, specs)
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = [T0 + timedelta(minutes=m) for m in (1, 2, 3)]
    for i in range(6):
        assert scheduled(f"job_{i}") == expected


def test_catchup_latest_fires_only_the_newest_missed_tick(declare: Declare) -> None:
    specs = declare(cron_job("latest", "0 * * * *", catchup="latest"))
    result = pass_at(T0 + timedelta(hours=5, minutes=10), specs)
    assert result.created == [("latest", T0 + timedelta(hours=5))]
    assert next_run_at("latest") == T0 + timedelta(hours=6)


def test_catchup_all_fires_every_missed_tick_oldest_first(declare: Declare) -> None:
    specs = declare(cron_job("every", "0 * * * *", catchup="all"))
    result = pass_at(T0 + timedelta(hours=5, minutes=10), specs)
    assert [tick for _, tick in result.created] == [T0 + timedelta(hours=h) for h in range(1, 6)]
    assert next_run_at("every") == T0 + timedelta(hours=6)


def test_catchup_all_stops_at_the_cap_keeping_the_newest_ticks(declare: Declare) -> None:
    specs = declare(cron_job("capped", "* * * * *", catchup="all"))
    result = pass_at(T0 + timedelta(hours=2), specs, catchup_cap=3)
    assert [tick for _, tick in result.created] == [
        T0 + timedelta(minutes=m) for m in (118, 119, 120)
    ]


def test_catchup_none_skips_missed_ticks_and_resumes_at_the_next_one(declare: Declare) -> None:
    specs = declare(cron_job("skipper", "0 * * * *", catchup="none"))
    assert pass_at(T0 + timedelta(hours=5, minutes=10), specs).created == []
    assert next_run_at("skipper") == T0 + timedelta(hours=6)
    on_time = pass_at(T0 + timedelta(hours=6, seconds=20), specs)
    assert on_time.created == [("skipper", T0 + timedelta(hours=6))]


def test_ticks_to_fire_with_catchup_none_keeps_a_tick_only_while_on_time() -> None:
    tick = T0 + timedelta(hours=1)
    fire = ticks_to_fire(
        "0 * * * *", "UTC", pending=tick, now=tick + timedelta(seconds=30), catchup="none"
    )
    late = ticks_to_fire(
        "0 * * * *", "UTC", pending=tick, now=tick + timedelta(minutes=5), catchup="none"
    )
    assert fire == [tick]
    assert late == []


def test_a_job_whose_param_defaults_fail_validation_is_skipped_with_an_audit_row(
    declare: Declare,
) -> None:
    # (Required fields with a cron are refused when the jobs are declared: see test_registry.)
    specs = declare(
        spec("needs_day", with_day, params=DayUnlessDefault, cron="0 * * * *"),
        cron_job("fine", "0 * * * *"),
    )
    tick = T0 + timedelta(hours=1)
    result = pass_at(tick, specs)
    assert result.created == [("fine", tick)]
    assert [(job, at) for job, at, _ in result.refused] == [("needs_day", tick)]
    assert "day" in result.refused[0][2]
    assert scheduled("needs_day") == []
    assert next_run_at("needs_day") == tick + timedelta(hours=1)
    with session_scope() as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "schedule.skip")).one()
    assert (entry.actor, entry.target, entry.outcome) == ("scheduler", "needs_day", "refused")
    assert "default" in entry.detail


def test_disabled_jobs_get_no_ticks(declare: Declare) -> None:
    specs = declare(cron_job("off", "0 * * * *", enabled=False), cron_job("on", "0 * * * *"))
    result = pass_at(T0 + timedelta(hours=1), specs)
    assert result.created == [("on", T0 + timedelta(hours=1))]
    assert scheduled("off") == []


def test_a_cron_job_enabled_again_without_a_pending_tick_gets_the_next_one(
    declare: Declare,
) -> None:
    specs = declare(cron_job("revived", "0 * * * *"))
    with session_scope() as session:
        job = session.get(Job, "revived")
        assert job is not None
        job.next_run_at = None
        session.add(job)
    now = T0 + timedelta(hours=3, minutes=30)
    assert pass_at(now, specs).created == []
    assert next_run_at("revived") == T0 + timedelta(hours=4)


DST_CASES = [
    pytest.param(
        "Europe/Berlin",
        "30 2 * * *",
        utc(2024, 3, 30, 0, 0),
        utc(2024, 4, 1, 12, 0),
        # 02:30 CET; 02:30 does not exist on the 31st -> 03:00 CEST; then 02:30 CEST
        [utc(2024, 3, 30, 1, 30), utc(2024, 3, 31, 1, 0), utc(2024, 4, 1, 0, 30)],
        id="berlin-daily-spring-forward",
    ),
    pytest.param(
        "Europe/Berlin",
        "30 2 * * *",
        utc(2024, 10, 26, 0, 0),
        utc(2024, 10, 28, 12, 0),
        # 02:30 CEST; 02:30 happens twice on the 27th -> once, at 02:30 CEST; then 02:30 CET
        [utc(2024, 10, 26, 0, 30), utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)],
        id="berlin-daily-fall-back",
    ),
    pytest.param(
        "Europe/Berlin",
        "0 * * * *",
        utc(2024, 3, 30, 22, 30),
        utc(2024, 3, 31, 3, 10),
        # 00:00 and 01:00 CET, then 02:00 (missing) and 03:00 CEST share 01:00 UTC: once
        [utc(2024, 3, 30, 23), *(utc(2024, 3, 31, h) for h in (0, 1, 2, 3))],
        id="berlin-hourly-spring-forward",
    ),
    pytest.param(
        "Europe/Berlin",
        "0 * * * *",
        utc(2024, 10, 26, 22, 30),
        utc(2024, 10, 27, 3, 10),
        # 01:00 and 02:00 CEST; the repeated 02:00 CET (01:00 UTC) does not fire again
        [utc(2024, 10, 26, 23), utc(2024, 10, 27, 0), utc(2024, 10, 27, 2), utc(2024, 10, 27, 3)],
        id="berlin-hourly-fall-back",
    ),
    pytest.param(
        "America/New_York",
        "30 2 * * *",
        utc(2024, 3, 9, 0, 0),
        utc(2024, 3, 11, 12, 0),
        # 02:30 EST; 02:30 does not exist on the 10th -> 03:00 EDT; then 02:30 EDT
        [utc(2024, 3, 9, 7, 30), utc(2024, 3, 10, 7, 0), utc(2024, 3, 11, 6, 30)],
        id="new-york-daily-spring-forward",
    ),
    pytest.param(
        "America/New_York",
        "30 1 * * *",
        utc(2024, 11, 2, 0, 0),
        utc(2024, 11, 4, 12, 0),
        # 01:30 EDT; 01:30 happens twice on the 3rd -> once, at 01:30 EDT; then 01:30 EST
        [utc(2024, 11, 2, 5, 30), utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)],
        id="new-york-daily-fall-back",
    ),
    pytest.param(
        "America/New_York",
        "0 * * * *",
        utc(2024, 3, 10, 4, 30),
        utc(2024, 3, 10, 9, 10),
        # 00:00 and 01:00 EST, then 02:00 (missing) and 03:00 EDT share 07:00 UTC: once
        [utc(2024, 3, 10, h) for h in (5, 6, 7, 8, 9)],
        id="new-york-hourly-spring-forward",
    ),
    pytest.param(
        "America/New_York",
        "0 * * * *",
        utc(2024, 11, 3, 3, 30),
        utc(2024, 11, 3, 8, 10),
        # 00:00 and 01:00 EDT; the repeated 01:00 EST (06:00 UTC) does not fire again
        [utc(2024, 11, 3, h) for h in (4, 5, 7, 8)],
        id="new-york-hourly-fall-back",
    ),
]


@pytest.mark.parametrize(("zone", "cron", "start", "end", "expected"), DST_CASES)
def test_ticks_across_dst_fire_at_the_expected_utc_instants_once_each(
    declare: Declare,
    zone: str,
    cron: str,
    start: datetime,
    end: datetime,
    expected: list[datetime],
) -> None:
    specs = declare(cron_job("dst", cron, timezone=zone), now=start)
    step = timedelta(minutes=20) if cron.startswith("0 *") else timedelta(hours=1)
    results = walk(specs, start, end, step)
    assert scheduled("dst") == expected
    assert sum(len(result.created) for result in results) == len(expected)
    assert all(result.existing == [] for result in results)
