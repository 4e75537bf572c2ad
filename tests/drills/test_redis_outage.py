"""Drill: Redis goes away and comes back empty while runs are queued, dispatched and running."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import col, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Run
from etl_orchestrator.observability.health import check_health
from etl_orchestrator.states import FINAL, RunStatus
from tests.drills.conftest import (
    CAP,
    EngineProcess,
    RedisServer,
    SlotWatch,
    a_worker_is_registered,
    executions,
    peak_overlap,
    statuses,
    trigger_naps,
    wait_for,
)

pytestmark = pytest.mark.slow
OUTAGE_S = 8.0


def test_runs_survive_redis_restart_that_loses_every_key(
    private_redis: RedisServer,
    spawn: Callable[[str], EngineProcess],
    slot_watch: SlotWatch,
    tmp_path: Path,
) -> None:
    worker = spawn("worker")
    scheduler = spawn("scheduler")
    wait_for("the worker to register", a_worker_is_registered)

    long_runs = trigger_naps(CAP - 1, seconds=6.0)
    wait_for(
        "the long runs to start",
        lambda: set(statuses(long_runs).values()) == {RunStatus.RUNNING},
    )
    # A paused worker cannot claim: what is dispatched now stays only in Redis's queue.
    worker.pause()
    short_runs = trigger_naps(5, seconds=0.3)
    wait_for(
        "one short run to be dispatched",
        lambda: Counter(statuses(short_runs).values())[RunStatus.DISPATCHED] == 1,
    )
    before = Counter(statuses(long_runs + short_runs).values())
    assert before == {RunStatus.RUNNING: 2, RunStatus.DISPATCHED: 1, RunStatus.QUEUED: 4}
    private_redis.kill()
    worker.resume()
    outage_seen = time.monotonic()
    # The console's health report says what is wrong while it lasts.
    during = check_health()
    assert not during.redis.reachable
    assert during.status != "ok"
    # The worker and scheduler meet a dead Redis for a while.
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_seen)))
    private_redis.start()

    every_run = long_runs + short_runs
    wait_for(
        "every run to finish",
        lambda: set(statuses(every_run).values()) <= FINAL,
        timeout_s=40,
    )

    with session_scope() as session:
        runs = session.exec(select(Run).where(col(Run.run_id).in_(every_run))).all()
    assert {run.run_id: (run.status, run.attempts) for run in runs} == {
        run_id: (RunStatus.SUCCEEDED, 1) for run_id in every_run
    }
    journal = executions(tmp_path / "journal.txt")
    assert {run_id: [event for event, _, _ in journal[run_id]] for run_id in every_run} == {
        run_id: ["start", "end"] for run_id in every_run
    }
    assert peak_overlap(tmp_path / "journal.txt") <= CAP
    assert slot_watch.samples > 0
    assert slot_watch.peak <= CAP
    wait_for("the health report to see Redis again", lambda: check_health().redis.reachable)
    assert worker.alive()
    assert scheduler.alive()
