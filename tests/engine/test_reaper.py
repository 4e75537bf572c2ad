"""The reaper: expired heartbeat leases, lost deliveries, unconfirmed cancels; kill -9 drills."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from arq.connections import create_pool
from arq.constants import default_queue_name, job_key_prefix
from sqlalchemy import update
from sqlmodel import col, select

from etl_orchestrator.config import ConfigError
from etl_orchestrator.db import db_now, session_scope
from etl_orchestrator.engine import recording, worker
from etl_orchestrator.engine.dispatch import Dispatch, dispatch_pass
from etl_orchestrator.engine.dispatcher import ARQ_FUNCTION, enqueue
from etl_orchestrator.engine.reaper import Reaper, reap_pass
from etl_orchestrator.jobs import RetryPolicy, RunContext
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import Run, RunAttempt, WorkerRecord
from etl_orchestrator.redis_conn import arq_settings
from etl_orchestrator.services import catalog
from etl_orchestrator.services import runs as run_service
from etl_orchestrator.states import RunStatus, transition
from etl_orchestrator.timeutil import utcnow
from tests.engine.conftest import Engine, spec
from tests.engine.drill_jobs import GATE_KEY, STARTS_KEY

REPO = Path(__file__).resolve().parents[2]


def nothing(ctx: RunContext) -> None:
    """Never runs in the database-only tests."""


def count_execution(ctx: RunContext) -> None:
    redis.Redis.from_url(os.environ["REDIS_URL"]).incr("executions")


@pytest.fixture
def queued(any_db: str) -> Callable[..., int]:
    """Declare job `j` with the given retry attempts and queue one run of it."""

    def make(max_attempts: int = 3) -> int:
        specs = {"j": spec("j", nothing, retry=RetryPolicy(max_attempts=max_attempts, base_s=0))}
        with session_scope() as session:
            sync_jobs(session, specs, now=utcnow())
        with session_scope() as session:
            [run] = run_service.trigger(session, job_id="j", specs=specs, reason="test").runs
            return run.run_id or 0

    return make


def dispatch() -> Dispatch:
    with session_scope() as session:
        [item] = dispatch_pass(session).dispatched
    return item


def claimed(run_id: int, worker_id: str = "host-a:1") -> recording.Claimed:
    item = dispatch()
    claim = recording.claim(run_id, item.attempt, item.token, worker_id)
    assert claim is not None
    return claim


def age(run_id: int, seconds: float, *columns: str) -> None:
    """Move the run's heartbeat/dispatch times `seconds` into the past (database clock)."""
    with session_scope() as session:
        then = db_now(session) - timedelta(seconds=seconds)
        session.execute(
            update(Run).where(Run.run_id == run_id).values(**dict.fromkeys(columns, then))  # type: ignore[arg-type]
        )


def live_worker(alive_for_s: float, worker_id: str = "host-b:2") -> None:
    with session_scope() as session:
        now = db_now(session)
        session.add(
            WorkerRecord(
                worker_id=worker_id,
                host=worker_id.rsplit(":", 1)[0],
                pid=2,
                started_at=now - timedelta(seconds=alive_for_s),
                last_heartbeat_at=now,
            )
        )


def reap(**kwargs: Any) -> list[Dispatch]:
    kwargs.setdefault("lease", 30)
    kwargs.setdefault("claim_timeout", 30)
    with session_scope() as session:
        return reap_pass(session, **kwargs)


def get(run_id: int) -> Run:
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def attempts(run_id: int) -> list[RunAttempt]:
    with session_scope() as session:
        return list(
            session.exec(
                select(RunAttempt)
                .where(RunAttempt.run_id == run_id)
                .order_by(col(RunAttempt.attempt))
            )
        )


def test_a_run_whose_worker_stopped_heartbeating_is_retried_now_with_its_attempt_crashed(queued):
    run_id = queued(max_attempts=3)
    claim = claimed(run_id)
    age(run_id, 31, "heartbeat_at")
    assert reap() == []
    run = get(run_id)
    assert run.status == "retrying"
    assert run.error_class == "transient"
    assert run.next_attempt_at is not None
    [attempt] = attempts(run_id)
    assert (attempt.outcome, attempt.error_class) == ("crashed", "transient")
    assert attempt.error_message == "worker host-a:1 stopped heartbeating (lease of 30 s expired)"
    # The retry is due at once: the next dispatch pass sends attempt 2.
    assert dispatch().attempt == 2
    # The dead worker's result, should it ever arrive, changes nothing.
    assert recording.record_outcome(claim, recording.Outcome(outcome="succeeded")) == "dispatched"
    assert attempts(run_id)[0].outcome == "crashed"


def test_a_dead_workers_last_allowed_attempt_fails_the_run(queued):
    run_id = queued(max_attempts=1)
    claimed(run_id)
    age(run_id, 60, "heartbeat_at")
    reap()
    run = get(run_id)
    assert run.status == "failed"
    assert "attempts exhausted" in run.status_detail
    assert attempts(run_id)[0].outcome == "crashed"


def test_a_heartbeat_within_the_lease_is_left_alone(queued):
    run_id = queued()
    claimed(run_id)
    age(run_id, 20, "heartbeat_at")
    reap()
    recording.heartbeat("host-a:1", "host-a", 1, [run_id])
    reap(lease=1)
    assert get(run_id).status == "running"
    assert attempts(run_id)[0].outcome is None


def test_an_unclaimed_dispatch_is_sent_again_without_using_up_the_jobs_attempts(queued):
    run_id = queued(max_attempts=2)
    lost = dispatch()
    live_worker(alive_for_s=60)
    age(run_id, 31, "dispatched_at")
    [again] = reap()
    assert (again.run_id, again.attempt) == (run_id, 2)
    assert again.token != lost.token
    run = get(run_id)
    assert (run.status, run.attempts, run.max_attempts, run.attempt_token) == (
        "dispatched",
        2,
        3,
        again.token,
    )
    first, second = attempts(run_id)
    assert (first.outcome, first.error_type) == ("crashed", "etl_orchestrator.engine.DeliveryLost")
    assert "no worker claimed it within 30 s" in (first.error_message or "")
    assert (second.outcome, second.token) == (None, again.token)
    # The lost delivery, found again later, is stale; the new one is claimed.
    assert recording.claim(run_id, lost.attempt, lost.token, "host-b:2") is None
    assert recording.claim(run_id, again.attempt, again.token, "host-b:2") is not None


@pytest.mark.parametrize(
    "workers",
    [
        pytest.param([], id="no worker registered"),
        pytest.param([(5.0, "host-b:2")], id="the only worker started after the dispatch"),
        pytest.param([(60.0, "scheduler:host-c:3")], id="only a scheduler is alive"),
    ],
)
def test_nothing_is_sent_again_unless_a_worker_was_alive_the_whole_claim_timeout(queued, workers):
    run_id = queued()
    dispatch()
    for alive_for_s, worker_id in workers:
        live_worker(alive_for_s, worker_id)
    age(run_id, 31, "dispatched_at")
    assert reap() == []
    assert (get(run_id).status, get(run_id).attempts) == ("dispatched", 1)


def test_a_cancelled_run_whose_worker_died_has_its_open_attempt_closed(queued):
    run_id = queued()
    claimed(run_id)
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        transition(session, run, RunStatus.CANCELLED, actor="alice", detail="stop")
    reap()
    assert attempts(run_id)[0].outcome is None  # the worker still has time to confirm
    age(run_id, 31, "heartbeat_at")
    reap()
    [attempt] = attempts(run_id)
    assert attempt.outcome == "cancelled"
    assert "worker host-a:1 stopped before confirming" in (attempt.error_message or "")


@pytest.mark.parametrize("name", ["ETL_HEARTBEAT_LEASE_S", "ETL_CLAIM_TIMEOUT_S"])
@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan"])
def test_a_bad_timeout_setting_stops_the_reaper_at_start_naming_the_variable(
    monkeypatch, name, value
):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=rf"{name}=.* must be a number of seconds above 0"):
        Reaper()


def test_after_its_own_outage_the_reaper_gives_workers_one_lease_to_heartbeat(queued, monkeypatch):
    monkeypatch.setenv("ETL_HEARTBEAT_LEASE_S", "30")
    run_id = queued()
    claimed(run_id)
    age(run_id, 31, "heartbeat_at")
    reaper = Reaper()
    reaper._last_pass = time.monotonic() - 60  # its previous pass was a minute ago
    reaper.run_once()
    assert get(run_id).status == "running"
    reaper._grace_until = 0.0  # the grace is over
    reaper.run_once()
    assert get(run_id).status == "retrying"


@contextlib.asynccontextmanager
async def reaper_running(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """A reaper pass every 0.1 s, as the scheduler runs it, with 1 s leases; workers beat often."""
    monkeypatch.setenv("ETL_HEARTBEAT_LEASE_S", "1")
    monkeypatch.setenv("ETL_CLAIM_TIMEOUT_S", "0.5")
    monkeypatch.setattr(worker, "HEARTBEAT_S", 0.2)
    pool = await create_pool(arq_settings())
    reaper = Reaper()

    async def loop() -> None:
        while True:
            await reaper.run_and_enqueue(pool)
            await asyncio.sleep(0.1)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pool.aclose()


@pytest.fixture
async def reaping(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    async with reaper_running(monkeypatch):
        yield


async def until(condition: Callable[[], bool], timeout_s: float = 20) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the condition is in the database or Redis
            await asyncio.sleep(0.05)


def run_on(run_id: int) -> str | None:
    run = get(run_id)
    return run.worker if run.status == "running" else None


@pytest.mark.slow
async def test_kill_9_of_a_worker_mid_run_is_recovered_and_finished_by_another_worker(
    engine: Engine, probe: redis.Redis, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("ETL_JOBS_MODULES", "tests.engine.drill_jobs")
    catalog.clear()
    engine.declare(*catalog.job_specs(("tests.engine.drill_jobs",)).values())
    with (tmp_path / "worker.log").open("wb") as log:
        doomed = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "etl_orchestrator", "worker", cwd=REPO, stdout=log, stderr=log
        )
    orphans: list[int] = []
    try:
        await engine.start(workers=0)  # the dispatcher only: the doomed worker takes the run
        [run_id] = engine.trigger("drill_hold")
        doomed_id = f"{socket.gethostname()}:{doomed.pid}"
        await until(lambda: run_on(run_id) == doomed_id and probe.llen(STARTS_KEY) == 1)
        orphans.append(int(str(probe.lindex(STARTS_KEY, 0)).split(":")[1]))
        doomed.send_signal(signal.SIGKILL)
        await doomed.wait()
        await engine.start(workers=1, dispatchers=0)
        async with reaper_running(monkeypatch):
            final = await engine.wait_final([run_id], timeout_s=20)
        run = final[run_id]
        assert run.status == "succeeded"
        assert run.worker != doomed_id
        first, second = attempts(run_id)
        assert (first.outcome, first.worker) == ("crashed", doomed_id)
        assert f"worker {doomed_id} stopped heartbeating" in (first.error_message or "")
        assert (second.outcome, second.worker) == ("succeeded", run.worker)
        # arq delivers at least once: a late copy of the killed attempt's job must not run it.
        pool = await create_pool(arq_settings())
        try:
            late = await pool.enqueue_job(
                ARQ_FUNCTION, run_id, first.attempt, first.token, _job_id=f"{run_id}:1:late"
            )
            assert late is not None
            assert await late.result(timeout=10) == "stale"
        finally:
            await pool.aclose()
        starts = cast(list[str], probe.lrange(STARTS_KEY, 0, -1))
        assert [entry.split(":")[0] for entry in starts] == ["1", "2"]
        assert len(attempts(run_id)) == 2
    finally:
        probe.set(GATE_KEY, "open")
        if doomed.returncode is None:
            doomed.kill()
            await doomed.wait()
        for pid in orphans:
            # The attempt's child lives in its own process group and outlives a kill -9 of its
            # worker: end it here so it cannot touch later tests.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        catalog.clear()


@pytest.mark.slow
async def test_a_dispatched_run_whose_arq_job_was_deleted_is_sent_again_and_completes(
    engine: Engine, probe: redis.Redis, reaping: None
):
    engine.declare(spec("counted", count_execution))
    [run_id] = engine.trigger("counted")
    lost = dispatch()
    pool = await create_pool(arq_settings())
    try:
        await enqueue(pool, [lost])
    finally:
        await pool.aclose()
    probe.delete(job_key_prefix + lost.arq_job_id)  # as a Redis flush would
    probe.zrem(default_queue_name, lost.arq_job_id)
    await engine.start(workers=1, dispatchers=0)  # no dispatcher: only the reaper can help
    final = await engine.wait_final([run_id], timeout_s=20)
    run = final[run_id]
    assert run.status == "succeeded"
    assert (run.attempts, run.max_attempts) == (2, 2)  # the lost delivery did not count
    first, second = attempts(run_id)
    assert (first.outcome, first.error_type) == ("crashed", "etl_orchestrator.engine.DeliveryLost")
    assert second.outcome == "succeeded"
    assert probe.get("executions") == "1"
