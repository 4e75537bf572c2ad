"""The engine end to end: real dispatcher, real arq worker, real PostgreSQL/SQLite and Redis."""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import cast

import pytest
import redis
from pydantic import BaseModel
from sqlalchemy import func, text
from sqlmodel import select

from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs import PermanentError, RetryPolicy, RunContext, TransientError
from etl_orchestrator.models import Job, Run, RunAttempt, RunEvent, RunLog
from etl_orchestrator.services import runs as run_service
from etl_orchestrator.services import settings
from tests.engine.conftest import spec

pytestmark = pytest.mark.slow


def _probe() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


def timeline_of(r: redis.Redis) -> list[str]:
    return cast(list[str], r.lrange("timeline", 0, -1))


def gate_job(ctx: RunContext) -> None:
    """Marks its start and end, and holds until the test opens the gate."""
    r = _probe()
    r.rpush("timeline", f"start:{ctx.job_id}")
    deadline = time.monotonic() + 60
    while r.get("gate") != "open" and time.monotonic() < deadline:
        time.sleep(0.01)
    r.rpush("timeline", f"end:{ctx.job_id}")


def quick_job(ctx: RunContext) -> None:
    r = _probe()
    r.rpush("timeline", f"start:{ctx.job_id}")
    time.sleep(0.05)
    r.rpush("timeline", f"end:{ctx.job_id}")


def peak_overlap(timeline: list[str]) -> int:
    running = peak = 0
    for entry in timeline:
        running += 1 if entry.startswith("start:") else -1
        peak = max(peak, running)
    return peak


async def wait_until(predicate, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def set_cap(value: int) -> None:
    with session_scope() as session:
        settings.set_parallel_jobs(session, value, actor="tester", reason="test")


def starts(probe: redis.Redis) -> int:
    return sum(1 for e in timeline_of(probe) if e.startswith("start:"))


async def test_cap_of_two_runs_exactly_two_at_once_and_queues_the_rest(engine, probe, any_db):
    set_cap(2)
    engine.declare(*(spec(f"gate_{i}", gate_job) for i in range(6)))
    await engine.start(workers=2)
    run_ids = [rid for i in range(6) for rid in engine.trigger(f"gate_{i}")]
    await wait_until(lambda: starts(probe) == 2)
    await asyncio.sleep(0.5)
    with session_scope() as session:
        statuses = [r.status for r in session.exec(select(Run))]
    assert statuses.count("running") == 2
    assert statuses.count("queued") == 4
    probe.set("gate", "open")
    final = await engine.wait_final(run_ids)
    assert {run.status for run in final.values()} == {"succeeded"}
    assert peak_overlap(timeline_of(probe)) == 2


async def test_cap_of_one_runs_strictly_one_after_another(engine, probe, any_db):
    set_cap(1)
    engine.declare(*(spec(f"quick_{i}", quick_job) for i in range(4)))
    await engine.start(workers=2)
    run_ids = [rid for i in range(4) for rid in engine.trigger(f"quick_{i}")]
    await engine.wait_final(run_ids)
    timeline = timeline_of(probe)
    assert len(timeline) == 8
    assert peak_overlap(timeline) == 1


def wait_for_sibling(sibling: str):
    def run(ctx: RunContext) -> None:
        r = _probe()
        r.rpush("timeline", f"start:{ctx.job_id}")
        deadline = time.monotonic() + 20
        while f"start:{sibling}" not in timeline_of(r):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{sibling} never ran alongside {ctx.job_id}")
            time.sleep(0.01)
        r.rpush("timeline", f"end:{ctx.job_id}")

    return run


async def test_diamond_with_downstream_overlaps_the_middle_and_joins_after_both(
    engine, probe, any_db
):
    engine.declare(
        spec("a", quick_job),
        spec("b", wait_for_sibling("c"), depends_on=["a"]),
        spec("c", wait_for_sibling("b"), depends_on=["a"]),
        spec("d", quick_job, depends_on=["b", "c"]),
    )
    await engine.start()
    run_ids = engine.trigger("a", downstream=True)
    assert len(run_ids) == 4
    final = await engine.wait_final(run_ids)
    assert {run.status for run in final.values()} == {"succeeded"}
    timeline = timeline_of(probe)
    assert timeline.index("end:a") < min(timeline.index("start:b"), timeline.index("start:c"))
    assert max(timeline.index("end:b"), timeline.index("end:c")) < timeline.index("start:d")
    assert len({r.batch_id for r in final.values()}) == 1


def flaky_twice(ctx: RunContext) -> None:
    ctx.log.info("attempt %s starting", ctx.attempt)
    print(f"stdout line from attempt {ctx.attempt}")
    if ctx.attempt < 3:
        raise TransientError(f"source busy on attempt {ctx.attempt}")
    ctx.lineage(read=10, written=7, tables=["t_out"], checksum="abc")


async def test_transient_failures_are_retried_with_growing_backoff_then_succeed(engine, any_db):
    policy = RetryPolicy(max_attempts=4, base_s=0.3, factor=2, max_s=60, jitter=0)
    engine.declare(spec("flaky", flaky_twice, retry=policy))
    await engine.start()
    [run_id] = engine.trigger("flaky")
    final = await engine.wait_final([run_id])
    run = final[run_id]
    assert run.status == "succeeded"
    assert (run.records_read, run.records_written, run.affected_tables, run.checksum) == (
        10,
        7,
        ["t_out"],
        "abc",
    )
    with session_scope() as session:
        attempts = list(
            session.exec(select(RunAttempt).where(RunAttempt.run_id == run_id).order_by("attempt"))
        )
        events = list(
            session.exec(select(RunEvent).where(RunEvent.run_id == run_id).order_by("event_id"))
        )
        logs = [row.message for row in session.exec(select(RunLog).where(RunLog.run_id == run_id))]
    assert [a.outcome for a in attempts] == ["failed", "failed", "succeeded"]
    assert [a.error_class for a in attempts] == ["transient", "transient", None]
    delays = [
        float(m.group(1))
        for e in events
        if e.to_status == "retrying" and (m := re.search(r"next attempt in ([\d.]+) s", e.detail))
    ]
    assert delays == [0.3, 0.6]
    for before, after, delay in zip(attempts, attempts[1:], delays, strict=False):
        assert after.started_at is not None
        assert before.ended_at is not None
        assert (after.started_at - before.ended_at).total_seconds() >= delay - 0.05
    assert [e.to_status for e in events] == [
        "queued",
        "dispatched",
        "running",
        "retrying",
        "dispatched",
        "running",
        "retrying",
        "dispatched",
        "running",
        "succeeded",
    ]
    assert "attempt 3 starting" in logs
    assert "stdout line from attempt 1" in logs


def broken(ctx: RunContext) -> None:
    raise PermanentError("column 'amount' is missing in the source")


async def test_a_permanent_error_fails_at_once_and_marks_dependents_upstream_failed(engine, any_db):
    engine.declare(
        spec("broken", broken, retry=RetryPolicy(max_attempts=5, base_s=0.1)),
        spec("after", quick_job, depends_on=["broken"]),
        spec("after_after", quick_job, depends_on=["after"]),
    )
    await engine.start()
    run_ids = engine.trigger("broken", downstream=True)
    final = await engine.wait_final(run_ids)
    by_job = {run.job_id: run for run in final.values()}
    assert by_job["broken"].status == "failed"
    assert by_job["broken"].error_class == "permanent"
    assert by_job["broken"].attempts == 1
    assert "column 'amount' is missing" in (by_job["broken"].error_excerpt or "")
    assert by_job["after"].status == "upstream_failed"
    assert by_job["after_after"].status == "upstream_failed"
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(RunAttempt)).one() == 1
        job = session.get(Job, "broken")
        assert job is not None
        assert job.last_run_status == "failed"


def sleeper(ctx: RunContext) -> None:
    ctx.log.info("going to sleep")
    time.sleep(600)


async def test_a_job_stuck_in_sleep_is_killed_by_its_timeout(engine, any_db):
    engine.declare(spec("stuck", sleeper, timeout_s=1))
    await engine.start()
    started = time.monotonic()
    [run_id] = engine.trigger("stuck")
    final = await engine.wait_final([run_id], timeout_s=15)
    assert time.monotonic() - started < 10
    assert final[run_id].status == "failed"
    with session_scope() as session:
        attempt = session.get(RunAttempt, (run_id, 1))
    assert attempt is not None
    assert attempt.outcome == "timeout"
    assert "timeout of 1 s" in (attempt.error_message or "")


def pg_sleeper(ctx: RunContext) -> None:
    ctx.warehouse.execute(text("SELECT pg_sleep(600)"))


async def test_a_job_stuck_in_a_long_postgres_query_is_killed_and_the_query_ended(
    engine, pg_url, monkeypatch
):
    monkeypatch.setenv("WAREHOUSE_URL", pg_url)
    from etl_orchestrator import config

    config.get_settings.cache_clear()
    engine.declare(spec("stuck_sql", pg_sleeper, timeout_s=1))
    await engine.start()
    [run_id] = engine.trigger("stuck_sql")
    final = await engine.wait_final([run_id], timeout_s=15)
    assert final[run_id].status == "failed"
    with session_scope() as session:
        attempt = session.get(RunAttempt, (run_id, 1))
        assert attempt is not None
        assert attempt.outcome == "timeout"
        sleeping = session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND query LIKE 'SELECT pg_sleep(600)%'"
            )
        ).scalar_one()
    assert sleeping == 0


def counting_job(ctx: RunContext) -> None:
    _probe().incr("executions")


async def test_a_duplicate_delivery_runs_the_attempt_once(engine, probe, any_db):
    from arq.connections import create_pool

    from etl_orchestrator.engine.dispatch import dispatch_pass
    from etl_orchestrator.redis_conn import arq_settings

    engine.declare(spec("counted", counting_job))
    [run_id] = engine.trigger("counted")
    with session_scope() as session:
        [dispatch] = dispatch_pass(session).dispatched
    pool = await create_pool(arq_settings())
    for suffix in ("", ":again", ":and-again"):
        await pool.enqueue_job(
            "run_attempt",
            dispatch.run_id,
            dispatch.attempt,
            dispatch.token,
            _job_id=dispatch.arq_job_id + suffix,
        )
    await pool.aclose()
    await engine.start()
    final = await engine.wait_final([run_id])
    await asyncio.sleep(0.5)
    assert final[run_id].status == "succeeded"
    assert probe.get("executions") == "1"
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(RunAttempt)).one() == 1


def counting_per_run(ctx: RunContext) -> None:
    _probe().hincrby("executions", str(ctx.run_id), 1)


async def test_workers_polling_the_same_queue_run_every_attempt_exactly_once(engine, probe):
    """Each worker takes a whole poll of jobs in one round trip: two must never both take one."""
    set_cap(40)
    engine.declare(
        *(spec(f"count_{i}", counting_per_run, cooperative=i % 2 == 0) for i in range(60))
    )
    with session_scope() as session:
        run_ids = [
            rid
            for i in range(60)
            for rid in run_service.trigger(
                session, job_id=f"count_{i}", specs=engine.specs, requested_by="t", reason="t"
            ).run_ids
        ]
    await engine.start(workers=3)
    final = await engine.wait_final(run_ids)
    assert {run.status for run in final.values()} == {"succeeded"}
    assert probe.hgetall("executions") == {str(run_id): "1" for run_id in run_ids}


async def test_lowering_the_cap_lets_running_runs_finish_and_new_dispatches_respect_it(
    engine, probe, any_db
):
    set_cap(4)
    engine.declare(*(spec(f"gate_{i}", gate_job) for i in range(7)))
    await engine.start()
    run_ids = [rid for i in range(7) for rid in engine.trigger(f"gate_{i}")]
    await wait_until(lambda: starts(probe) == 4)
    set_cap(1)
    probe.set("gate", "open")
    final = await engine.wait_final(run_ids)
    assert {run.status for run in final.values()} == {"succeeded"}
    timeline = timeline_of(probe)
    first_four_done = [i for i, e in enumerate(timeline) if e.startswith("end:")][3]
    assert peak_overlap(timeline[: first_four_done + 1]) == 4
    later = [e for e in timeline[first_four_done + 1 :]]
    assert len(later) == 6
    assert peak_overlap(later) == 1


class Window(BaseModel):
    days: int
    region: str = "eu"


def with_params(ctx: RunContext, p: Window) -> None:
    _probe().set("seen", f"{p.days}:{p.region}")


def test_bad_params_unknown_and_disabled_jobs_are_refused_with_nothing_queued(engine, any_db):
    engine.declare(
        spec("windowed", with_params, params=Window),
        spec("off", quick_job, enabled=False),
    )
    with pytest.raises(run_service.ParamsError) as bad:
        engine.trigger("windowed", params={"days": "many"})
    assert "days" in bad.value.errors
    with pytest.raises(run_service.UnknownJobError, match=r"[Dd]id you mean 'windowed'"):
        engine.trigger("windowd")
    with pytest.raises(run_service.JobDisabledError, match="disabled"):
        engine.trigger("off")
    with pytest.raises(run_service.TriggerError, match="out of range"):
        engine.trigger("windowed", params={"days": 1}, concurrency=99)
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(Run)).one() == 0


async def test_params_reach_the_job_validated_by_its_model(engine, probe):
    engine.declare(spec("windowed", with_params, params=Window))
    await engine.start()
    [run_id] = engine.trigger("windowed", params={"days": "3"})
    final = await engine.wait_final([run_id])
    assert final[run_id].status == "succeeded"
    assert final[run_id].params == {"days": 3, "region": "eu"}
    assert probe.get("seen") == "3:eu"
