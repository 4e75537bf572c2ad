"""Idle workers wait on the dispatcher's wake-up stream, not a blind sleep between polls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from arq.connections import ArqRedis, create_pool

from etl_orchestrator.engine import worker as worker_module
from etl_orchestrator.engine.dispatch import Dispatch
from etl_orchestrator.engine.dispatcher import enqueue
from etl_orchestrator.redis_conn import WAKE_STREAM, arq_settings


@pytest.fixture
async def pool() -> AsyncIterator[ArqRedis]:
    redis = await create_pool(arq_settings())
    yield redis
    await redis.aclose()


async def test_an_idle_worker_polls_as_soon_as_a_run_is_dispatched(
    pool: ArqRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long enough that only the wake-up can end the wait within the test's patience.
    monkeypatch.setattr(worker_module, "POLL_DELAY_S", 60.0)
    worker = worker_module.build_worker({}, handle_signals=False)
    worker._pool = pool
    first = asyncio.create_task(worker._wait_for_work())  # type: ignore[attr-defined]
    await asyncio.sleep(0.2)
    assert not first.done()
    await enqueue(pool, [Dispatch(run_id=1, attempt=1, token="t", job_id="j")])
    await asyncio.wait_for(first, 5)
    # The next wait starts from the entry it saw: an older wake-up does not end it again...
    second = asyncio.create_task(worker._wait_for_work())  # type: ignore[attr-defined]
    await asyncio.sleep(0.2)
    assert not second.done()
    # ...but one that arrived while the worker was busy polling does, at once.
    await pool.xadd(WAKE_STREAM, {"n": 1})
    await asyncio.wait_for(second, 5)
    second_seen = worker._wake_id  # type: ignore[attr-defined]
    await pool.xadd(WAKE_STREAM, {"n": 1})
    await asyncio.wait_for(worker._wait_for_work(), 5)  # type: ignore[attr-defined]
    assert worker._wake_id != second_seen  # type: ignore[attr-defined]
    await worker.close()
