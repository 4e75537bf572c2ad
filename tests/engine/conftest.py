"""Engine fixtures: declare test jobs, sync them, and run a real dispatcher and arq worker."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from sqlmodel import select

from etl_orchestrator import events
from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.dispatcher import Dispatcher
from etl_orchestrator.engine.worker import build_worker
from etl_orchestrator.jobs.spec import JobSpec, RetryPolicy, make_spec
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import Run
from etl_orchestrator.services import runs as run_service
from etl_orchestrator.states import FINAL
from etl_orchestrator.timeutil import utcnow


def spec(job_id: str, fn: Callable[..., Any], **kwargs: Any) -> JobSpec:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=1, base_s=0, jitter=0))
    return make_spec(id=job_id, name=job_id, kind="python", fn=fn, **kwargs)


@dataclass
class Engine:
    """A dispatcher and a worker in this test's event loop, on the test's database and Redis."""

    specs: dict[str, JobSpec] = field(default_factory=dict)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    workers: list[Any] = field(default_factory=list)
    dispatchers: list[Dispatcher] = field(default_factory=list)

    def declare(self, *specs: JobSpec) -> None:
        for item in specs:
            self.specs[item.id] = item
        with session_scope() as session:
            sync_jobs(session, self.specs, now=utcnow())

    async def start(self, *, workers: int = 1, dispatchers: int = 1) -> None:
        for _ in range(dispatchers):
            dispatcher = Dispatcher(idle_s=0.2)
            self.dispatchers.append(dispatcher)
            self.tasks.append(asyncio.create_task(dispatcher.run()))
        for _ in range(workers):
            worker = build_worker(self.specs, handle_signals=False)
            self.workers.append(worker)
            self.tasks.append(asyncio.create_task(worker.main()))

    def trigger(self, job_id: str, **kwargs: Any) -> list[int]:
        kwargs.setdefault("requested_by", "tester")
        kwargs.setdefault("reason", "test")
        with session_scope() as session:
            result = run_service.trigger(session, job_id=job_id, specs=self.specs, **kwargs)
        return result.run_ids

    async def wait_final(self, run_ids: list[int], timeout_s: float = 30.0) -> dict[int, Run]:
        deadline = time.monotonic() + timeout_s
        while True:
            with session_scope() as session:
                rows = {
                    run.run_id or 0: run
                    for run in session.exec(select(Run).where(Run.run_id.in_(run_ids)))  # type: ignore[union-attr]
                }
            if all(rows[r].status in FINAL for r in run_ids):
                return rows
            if time.monotonic() > deadline:
                states = {r: (rows[r].status, rows[r].status_detail) for r in run_ids}
                raise AssertionError(f"runs not final after {timeout_s} s: {states}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        for dispatcher in self.dispatchers:
            dispatcher.stop()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for worker in self.workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker.close()


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    events.install()
    running = Engine()
    try:
        yield running
    finally:
        await running.stop()
        from etl_orchestrator import db

        db.remove_after_commit_hook(events.publish)


@pytest.fixture
def probe(redis_db: str) -> redis.Redis:
    """What jobs (in their child processes) report back to the test, through Redis."""
    return redis.Redis.from_url(redis_db, decode_responses=True)
