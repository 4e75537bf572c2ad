"""The arq worker's own life: its shutdown hook runs however its job tasks ended."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.worker import build_worker
from etl_orchestrator.models import WorkerRecord
from tests.engine.test_engine import wait_until


def stopped_at() -> object:
    with session_scope() as session:
        records = session.exec(select(WorkerRecord)).all()
    return records[0].stopped_at if records else None


async def test_a_job_task_cancelled_at_shutdown_does_not_skip_the_shutdown_hook():
    worker = build_worker({}, handle_signals=False)
    main = asyncio.create_task(worker.main())
    await wait_until(lambda: "etl" in worker.ctx)
    # A job task still in arq's own bookkeeping: close() cancels it outside the job function.
    worker.tasks["in-bookkeeping"] = asyncio.create_task(asyncio.sleep(60))
    main.cancel()
    await asyncio.gather(main, return_exceptions=True)
    await worker.close()
    assert stopped_at() is not None
