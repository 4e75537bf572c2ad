"""The leader lease in Redis (fencing tokens, renew, release) and the scheduler heartbeat row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.leader import (
    LEADER_KEY,
    LeaderLease,
    current_leader,
    record_heartbeat,
    record_stopped,
    scheduler_heartbeat_age,
)
from etl_orchestrator.models import WorkerRecord
from etl_orchestrator.redis_conn import async_client

LeaseFactory = Callable[..., LeaderLease]


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    redis_client = async_client()
    yield redis_client
    await redis_client.aclose()


@pytest.fixture
def lease(client: aioredis.Redis) -> LeaseFactory:
    def make(holder: str, ttl_s: float = 30.0) -> LeaderLease:
        return LeaderLease(client, holder, ttl_s=ttl_s)

    return make


async def expire(client: aioredis.Redis) -> None:
    """What the TTL does when the leader stops renewing."""
    await client.delete(LEADER_KEY)


async def test_only_one_holder_acquires_a_free_lease(lease: LeaseFactory) -> None:
    first, second = lease("a"), lease("b")
    assert await first.acquire() == 1
    assert await second.acquire() is None
    assert first.held()
    assert not second.held()


async def test_the_lease_key_carries_the_ttl(lease: LeaseFactory, client: aioredis.Redis) -> None:
    leader = lease("a", 2.5)
    await leader.acquire()
    info = await current_leader(client)
    assert info is not None
    assert info.holder == "a"
    assert 0 < info.ttl_ms <= 2500


async def test_an_unrenewed_lease_expires_and_a_standby_takes_it(lease: LeaseFactory) -> None:
    first, second = lease("a", 0.1), lease("b")
    await first.acquire()
    await asyncio.sleep(0.3)
    assert not first.held()
    assert await second.acquire() is not None


async def test_each_new_leader_gets_a_larger_fencing_token(
    lease: LeaseFactory, client: aioredis.Redis
) -> None:
    first, second = lease("a"), lease("b")
    token_a = await first.acquire()
    await expire(client)
    token_b = await second.acquire()
    assert token_a is not None
    assert token_b is not None
    assert token_b > token_a
    info = await current_leader(client)
    assert info is not None
    assert (info.holder, info.token) == ("b", token_b)


async def test_a_deposed_leader_cannot_renew_and_stops_counting_itself_leader(
    lease: LeaseFactory, client: aioredis.Redis
) -> None:
    first, second = lease("a"), lease("b")
    await first.acquire()
    await expire(client)
    await second.acquire()
    assert not await first.renew()
    assert not first.held()
    assert await second.renew()


async def test_renew_extends_the_holders_lease(lease: LeaseFactory, client: aioredis.Redis) -> None:
    leader = lease("a", 30.0)
    await leader.acquire()
    await client.pexpire(LEADER_KEY, 50)
    assert await leader.renew()
    info = await current_leader(client)
    assert info is not None
    assert info.ttl_ms > 1000


async def test_the_holder_reacquiring_its_live_lease_keeps_its_token(
    lease: LeaseFactory,
) -> None:
    leader = lease("a")
    token = await leader.acquire()
    leader.forget()
    assert await leader.acquire() == token


async def test_release_frees_the_lease_for_a_standby_at_once(lease: LeaseFactory) -> None:
    first, second = lease("a"), lease("b")
    await first.acquire()
    await first.release()
    assert not first.held()
    assert await second.acquire() is not None


async def test_release_by_a_deposed_leader_leaves_the_new_lease_alone(
    lease: LeaseFactory, client: aioredis.Redis
) -> None:
    first, second = lease("a"), lease("b")
    await first.acquire()
    await expire(client)
    token_b = await second.acquire()
    await first.release()
    info = await current_leader(client)
    assert info is not None
    assert (info.holder, info.token) == ("b", token_b)


def test_heartbeat_age_is_none_without_a_leading_scheduler() -> None:
    with session_scope() as session:
        record_heartbeat(session, "scheduler:h:1", "h", 1, leading=False)
        session.add(WorkerRecord(worker_id="h:2", host="h", pid=2, running=3))
    with session_scope() as session:
        assert scheduler_heartbeat_age(session) is None


def test_heartbeat_age_follows_the_leaders_last_beat() -> None:
    with session_scope() as session:
        record_heartbeat(session, "scheduler:h:1", "h", 1, leading=True)
    with session_scope() as session:
        age = scheduler_heartbeat_age(session)
        record = session.get(WorkerRecord, "scheduler:h:1")
    assert age is not None
    assert age >= 0
    assert record is not None
    assert record.running == 1
    with session_scope() as session:
        record_stopped(session, "scheduler:h:1")
    with session_scope() as session:
        assert scheduler_heartbeat_age(session) is None


def test_heartbeat_age_works_on_sqlite(sqlite_url: str) -> None:
    with session_scope() as session:
        record_heartbeat(session, "scheduler:h:1", "h", 1, leading=True)
    with session_scope() as session:
        age = scheduler_heartbeat_age(session)
    assert age is not None
    assert age >= 0
