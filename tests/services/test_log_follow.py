"""Following a run's log: every line once and in order from the stream and the database, gaps
filled from the database, the newest lines only for a reader that asks, the end of the run."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.logsink import LogSink, log_stream
from etl_orchestrator.models import Job, Run
from etl_orchestrator.redis_conn import async_client
from etl_orchestrator.services.log_follow import LogFollower
from etl_orchestrator.states import RunStatus, transition


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = async_client()
    yield client
    await client.aclose()


def a_run() -> int:
    with session_scope() as session:
        session.add(Job(job_id="a", name="a"))
        session.flush()
        run = Run(job_id="a", batch_id="b")
        session.add(run)
        session.flush()
        assert run.run_id is not None
        run_id = run.run_id
    for status in (RunStatus.DISPATCHED, RunStatus.RUNNING):
        with session_scope() as session:
            found = session.get(Run, run_id)
            assert found is not None
            transition(session, found, status, detail="test")
    return run_id


def finish(run_id: int) -> None:
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        transition(session, run, RunStatus.SUCCEEDED, detail="test")


async def log(sink: LogSink, *messages: str) -> None:
    for message in messages:
        sink.add(level="INFO", logger="job", message=message)
    await sink.flush()


async def test_lines_come_once_in_order_from_stored_and_live_and_across_attempts(
    redis: aioredis.Redis,
):
    run_id = a_run()
    first = LogSink(run_id, 1, redis)
    await log(first, "stored 1", "stored 2")
    follower = LogFollower(run_id, redis, (1, 1))  # the reader has shown line 1 already
    await follower.start()
    got = await follower.catch_up()
    await log(first, "live 3")
    got += await follower.more(block_ms=1000)
    second = LogSink(run_id, 2, redis)
    await log(second, "retry 1", "retry 2")
    got += await follower.more(block_ms=1000)
    assert [(line.cursor, line.message) for line in got] == [
        ((1, 2), "stored 2"),
        ((1, 3), "live 3"),
        ((2, 1), "retry 1"),
        ((2, 2), "retry 2"),
    ]


async def test_a_line_missing_from_the_stream_is_read_from_the_database(
    redis: aioredis.Redis,
):
    run_id = a_run()
    sink = LogSink(run_id, 1, redis)
    follower = LogFollower(run_id, redis, (0, 0))
    await follower.start()
    await log(sink, "one")
    await redis.delete(log_stream(run_id))  # as if trimmed or lost with Redis
    await log(sink, "two", "three")
    await redis.xtrim(log_stream(run_id), maxlen=1)  # only "three" is left on the stream
    got = await follower.more(block_ms=1000)
    assert [line.message for line in got] == ["one", "two", "three"]


async def test_a_reader_of_the_newest_lines_skips_ahead_in_a_flood(redis: aioredis.Redis):
    run_id = a_run()
    sink = LogSink(run_id, 1, redis)
    follower = LogFollower(run_id, redis, (0, 0), keep_last=3)
    await follower.start()
    await log(sink, *(f"line {n}" for n in range(1, 11)))
    got = await follower.more(block_ms=1000)
    assert [line.seq for line in got] == [8, 9, 10]
    assert follower.skipped


async def test_the_end_of_the_run_ends_the_follow_with_every_stored_line(
    redis: aioredis.Redis,
):
    run_id = a_run()
    sink = LogSink(run_id, 1, None)  # lines stored, never on the stream
    follower = LogFollower(run_id, redis, (0, 0))
    await follower.start()
    await log(sink, "quiet 1", "quiet 2")
    assert await follower.more(block_ms=100) == []  # the stream has nothing yet
    finish(run_id)
    got = await follower.more(block_ms=100)
    assert [line.message for line in got] == ["quiet 1", "quiet 2"]
    assert follower.final


async def test_without_redis_the_database_alone_delivers():
    run_id = a_run()
    follower = LogFollower(run_id, None, (0, 0))
    await log(LogSink(run_id, 1, None), "a")
    got = await follower.more(block_ms=50)
    assert [line.message for line in got] == ["a"]
    assert not follower.stream_ok
