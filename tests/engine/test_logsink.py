"""The log sink writes each line once, even when its periodic flush is cancelled mid-insert."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
from sqlalchemy import func, select
from sqlmodel import col

from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.logsink import LogSink
from etl_orchestrator.models import Job, Run, RunLog
from etl_orchestrator.services import log_queries


def a_run() -> int:
    with session_scope() as session:
        session.add(Job(job_id="a", name="a"))
        session.flush()
        run = Run(job_id="a", batch_id="b")
        session.add(run)
        session.flush()
        assert run.run_id is not None
        return run.run_id


async def waiting_for_the_lock(blocker: psycopg.Connection[tuple[int]]) -> None:
    query = (
        "SELECT count(*) FROM pg_locks WHERE relation = 'dw_etl_run_logs'::regclass AND NOT granted"
    )
    for _ in range(500):
        if blocker.execute(query).fetchone() == (1,):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the flush never reached its insert")


async def test_a_flush_cancelled_during_its_insert_is_not_written_twice(pg_url: str):
    run_id = a_run()
    sink = LogSink(run_id, 1, None)
    for n in range(50):
        sink.add(level="INFO", logger="job", message=f"line {n}")
    # Hold the table so the flush's insert waits in its thread while the flush is cancelled.
    with psycopg.connect(pg_url) as blocker:
        blocker.execute("LOCK TABLE dw_etl_run_logs IN ACCESS EXCLUSIVE MODE")
        flushing = asyncio.create_task(sink.flush())
        await waiting_for_the_lock(blocker)
        flushing.cancel()
        await asyncio.sleep(0.05)
        blocker.rollback()  # the insert goes on now
        await asyncio.gather(flushing, return_exceptions=True)
    sink.add(level="INFO", logger="job", message="last line")
    await sink.flush()
    with session_scope() as session:
        count = session.execute(
            select(func.count()).select_from(RunLog).where(col(RunLog.run_id) == run_id)
        ).scalar()
    assert count == 51


async def test_lines_are_stored_in_order_with_their_utc_time(any_db: str):
    run_id = a_run()
    sink = LogSink(run_id, 1, None)
    at = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    sink.add(level="WARNING", logger="job", message="first", ts=at)
    sink.add(level="INFO", logger="job", message="second", ts=at)
    await sink.flush()
    with session_scope() as session:
        lines = log_queries.lines_after(session, run_id, log_queries.START, 10)
    assert [(line.seq, line.level, line.message) for line in lines] == [
        (1, "WARNING", "first"),
        (2, "INFO", "second"),
    ]
    assert lines[0].ts == at
