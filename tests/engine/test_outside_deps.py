"""Upstream jobs outside a schedule batch: a recent real success releases, the wait times out."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import redis
from sqlmodel import Session, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.dispatch import OutsideRuns, dispatch_pass, verdict
from etl_orchestrator.engine.ticks import tick_pass
from etl_orchestrator.jobs import RunContext
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import Run
from etl_orchestrator.services import runs as run_service
from etl_orchestrator.states import RunStatus
from tests.engine.conftest import Engine, spec

TODAY = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)
YESTERDAY = TODAY - timedelta(days=1)
DAILY = "0 2 * * *"


def gated(ctx: RunContext) -> None:
    """Holds until the test opens the gate, so the test can look at its dependents meanwhile."""
    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    r.rpush("timeline", f"start:{ctx.job_id}")
    deadline = time.monotonic() + 30
    while r.get("gate") != "open" and time.monotonic() < deadline:
        time.sleep(0.01)
    r.rpush("timeline", f"end:{ctx.job_id}")


def quick(ctx: RunContext) -> None:
    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    r.rpush("timeline", f"start:{ctx.job_id}")
    r.rpush("timeline", f"end:{ctx.job_id}")


def timeline(probe: redis.Redis) -> list[str]:
    return cast(list[str], probe.lrange("timeline", 0, -1))


def sync(*specs: JobSpec) -> dict[str, JobSpec]:
    declared = {item.id: item for item in specs}
    with session_scope() as session:
        sync_jobs(session, declared, now=TODAY - timedelta(minutes=1))
    return declared


def past_run(job_id: str, scheduled_for: datetime, **fields: Any) -> int:
    """A finished run of `job_id` from another batch (say, yesterday's)."""
    fields.setdefault("status", RunStatus.SUCCEEDED)
    fields.setdefault("trigger", "schedule")
    with session_scope() as session:
        run = Run(job_id=job_id, batch_id=str(uuid.uuid4()), scheduled_for=scheduled_for, **fields)
        session.add(run)
        session.flush()
        return run.run_id or 0


def fire_ticks(specs: dict[str, JobSpec], now: datetime = TODAY) -> None:
    with session_scope() as session:
        tick_pass(session, now=now, specs=specs)


def run_of(session: Session, job_id: str) -> Run:
    return session.exec(select(Run).where(Run.job_id == job_id).order_by(Run.run_id.desc())).first()  # type: ignore[union-attr,return-value]


def dispatch() -> None:
    with session_scope() as session:
        dispatch_pass(session)


def status_of(job_id: str) -> tuple[str, str]:
    with session_scope() as session:
        run = run_of(session, job_id)
        return run.status, run.status_detail


def test_verdict_ignores_outside_upstreams_when_not_given_them() -> None:
    assert verdict("b1", [("up", "success")], {}) == ("ready", [])


def test_verdict_needs_an_outside_success_scheduled_at_or_after_the_run() -> None:
    deps = [("up", "success")]
    yesterday: OutsideRuns = {"up": {RunStatus.SUCCEEDED: YESTERDAY}}
    today: OutsideRuns = {"up": {RunStatus.SUCCEEDED: TODAY}}
    failed_today: OutsideRuns = {"up": {RunStatus.FAILED: TODAY}}
    assert verdict("b1", deps, {}, yesterday, TODAY) == ("blocked", ["up"])
    assert verdict("b1", deps, {}, failed_today, TODAY) == ("blocked", ["up"])
    assert verdict("b1", deps, {}, today, TODAY) == ("ready", [])
    assert verdict("b1", deps, {}, {}, TODAY) == ("blocked", ["up"])


def test_verdict_takes_any_final_outside_run_for_a_completion_dependency() -> None:
    failed_today: OutsideRuns = {"up": {RunStatus.FAILED: TODAY}}
    assert verdict("b1", [("up", "completion")], {}, failed_today, TODAY) == ("ready", [])


def test_verdict_lets_an_upstream_run_of_the_batch_decide_first() -> None:
    statuses: dict[tuple[str, str], str] = {("b1", "up"): RunStatus.RUNNING}
    today: OutsideRuns = {"up": {RunStatus.SUCCEEDED: TODAY}}
    assert verdict("b1", [("up", "success")], statuses, today, TODAY) == ("blocked", ["up"])


def test_a_scheduled_run_waits_while_its_outside_upstream_last_succeeded_yesterday() -> None:
    specs = sync(spec("up", quick), spec("down", quick, cron=DAILY, depends_on=["up"]))
    past_run("up", YESTERDAY)
    fire_ticks(specs)
    assert status_of("down")[0] == RunStatus.WAITING
    dispatch()
    assert status_of("down") == (RunStatus.WAITING, "blocked by up")
    past_run("up", TODAY, trigger="manual")
    dispatch()
    assert status_of("down")[0] == RunStatus.DISPATCHED


def test_a_dry_run_success_does_not_release_a_scheduled_dependent() -> None:
    specs = sync(spec("up", quick), spec("down", quick, cron=DAILY, depends_on=["up"]))
    past_run("up", TODAY, dry_run=True, trigger="manual")
    fire_ticks(specs)
    dispatch()
    assert status_of("down") == (RunStatus.WAITING, "blocked by up")
    past_run("up", TODAY + timedelta(hours=1), trigger="manual")
    dispatch()
    assert status_of("down")[0] == RunStatus.DISPATCHED


def test_a_manual_run_does_not_wait_for_upstreams_outside_its_batch() -> None:
    specs = sync(spec("up", quick), spec("down", quick, cron=DAILY, depends_on=["up"]))
    past_run("up", YESTERDAY)
    with session_scope() as session:
        run_service.trigger(session, job_id="down", specs=specs, requested_by="op", reason="test")
    assert status_of("down")[0] == RunStatus.QUEUED
    dispatch()
    assert status_of("down")[0] == RunStatus.DISPATCHED


def test_the_wait_times_out_into_upstream_failed_naming_the_upstream_and_the_wait() -> None:
    specs = sync(
        spec("up", quick),
        spec("patient", quick, cron=DAILY, depends_on=["up"], wait_timeout_s=3600),
        spec("hasty", quick, cron=DAILY, depends_on=["up"], wait_timeout_s=0.2),
        spec("after_hasty", quick, depends_on=["hasty"]),
    )
    past_run("up", YESTERDAY)
    fire_ticks(specs)
    dispatch()
    assert status_of("hasty") == (RunStatus.WAITING, "blocked by up")
    time.sleep(0.3)
    dispatch()
    status, detail = status_of("hasty")
    assert status == RunStatus.UPSTREAM_FAILED
    assert "up (outside this batch)" in detail
    assert "waited" in detail
    assert status_of("after_hasty")[0] == RunStatus.UPSTREAM_FAILED
    assert status_of("patient") == (RunStatus.WAITING, "blocked by up")


def test_a_downstream_member_of_a_schedule_batch_also_waits_for_its_outside_upstream() -> None:
    specs = sync(
        spec("root", quick, cron=DAILY),
        spec("other", quick),
        spec("joined", quick, depends_on=["root", "other"]),
    )
    fire_ticks(specs)
    with session_scope() as session:
        root_run = run_of(session, "root")
        root_run.status = RunStatus.SUCCEEDED
        session.add(root_run)
    dispatch()
    assert status_of("joined") == (RunStatus.WAITING, "blocked by other")
    past_run("other", TODAY, trigger="manual")
    dispatch()
    assert status_of("joined")[0] == RunStatus.DISPATCHED


async def test_a_dependent_waits_for_todays_upstream_success_then_runs(
    engine: Engine, probe: redis.Redis
) -> None:
    # Declared as of the fake day (engine.declare would sync as of the real clock).
    engine.specs.update(
        sync(
            spec("upstream", gated, cron=DAILY),
            spec("dependent", quick, cron=DAILY, depends_on=["upstream"]),
        )
    )
    past_run("upstream", YESTERDAY)
    fire_ticks(engine.specs)
    with session_scope() as session:
        up_id, down_id = run_of(session, "upstream").run_id, run_of(session, "dependent").run_id
    assert up_id is not None
    assert down_id is not None
    await engine.start()
    deadline = time.monotonic() + 20
    while "start:upstream" not in timeline(probe):
        assert time.monotonic() < deadline, "upstream never started"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # a few dispatcher passes while the upstream still runs
    assert status_of("dependent") == (RunStatus.WAITING, "blocked by upstream")
    probe.set("gate", "open")
    runs = await engine.wait_final([up_id, down_id])
    assert runs[up_id].status == RunStatus.SUCCEEDED
    assert runs[down_id].status == RunStatus.SUCCEEDED
    assert timeline(probe) == [
        "start:upstream",
        "end:upstream",
        "start:dependent",
        "end:dependent",
    ]
