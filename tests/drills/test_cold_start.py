"""Drill: the engine starts before Redis and PostgreSQL do, and waits for them by itself."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from etl_orchestrator.states import RunStatus
from tests.drills.conftest import (
    EngineProcess,
    PgCluster,
    RedisServer,
    a_worker_is_registered,
    statuses,
    trigger_naps,
    wait_for,
)

pytestmark = pytest.mark.slow
#: Both processes meet dead servers at start (arq is inside its connection retries, the
#: scheduler in its backoff). The worker command starting arq again once arq gives up takes
#: 20 s or more of outage to reach: checked by hand, too slow for a drill.
DOWN_S = 8.0


def test_worker_and_scheduler_started_before_their_servers_wait_for_them(
    private_redis: RedisServer,
    private_pg: PgCluster,
    spawn: Callable[[str], EngineProcess],
) -> None:
    private_redis.kill()
    private_pg.stop()
    worker = spawn("worker")
    scheduler = spawn("scheduler")
    time.sleep(DOWN_S)
    assert worker.alive(), worker.tail()
    assert scheduler.alive(), scheduler.tail()

    private_redis.start()
    private_pg.start()
    wait_for("the worker to register", a_worker_is_registered, timeout_s=30)
    [run_id] = trigger_naps(1, seconds=0.2)

    wait_for(
        "the run to succeed",
        lambda: statuses([run_id]) == {run_id: RunStatus.SUCCEEDED},
        timeout_s=30,
    )
