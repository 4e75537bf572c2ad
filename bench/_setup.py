"""Shared set-up for benchmarks: a private PostgreSQL database and Redis db, torn down after."""

from __future__ import annotations

import os
import platform
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import psycopg
import redis

PG_ADMIN = os.environ.get("ETL_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_SERVER = os.environ.get("ETL_BENCH_REDIS", "redis://127.0.0.1:6379")


def machine() -> str:
    freq = psutil.cpu_freq()
    mhz = f" @ {freq.max:.0f} MHz" if freq and freq.max else ""
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores{mhz}, {mem:.0f} GiB"
    )


#: The key a test run or benchmark sets in the Redis db it uses (tests/conftest.py uses it too).
OWNER_KEY = "etl:test-run-owner"
CLAIM_TTL_S = 3600
#: Take a db only if no one holds it and it is empty, in one step. Redis is shared by everyone on
#: the machine: a db that holds keys but no claim may be in use by a process whose claim was lost,
#: and flushing it would wipe that process's state mid-run.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('DBSIZE') > 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
#: Empty the db only while the claim is still ours (otherwise it is someone else's now).
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('FLUSHDB')
return 1
"""


def claim_redis_db(name: str, server: str = REDIS_SERVER) -> str | None:
    """The URL of an empty Redis db now claimed for `name`, or None when every one is taken."""
    for number in range(15, 0, -1):
        with redis.Redis.from_url(f"{server}/{number}") as client:
            if client.eval(_CLAIM, 1, OWNER_KEY, name, CLAIM_TTL_S) == 1:
                return f"{server}/{number}"
    return None


def release_redis_db(url: str, name: str) -> bool:
    """Empty the db claimed for `name`; False if the claim was gone (the run's figures may be
    void: someone else flushed or took the db meanwhile)."""
    with redis.Redis.from_url(url) as client:
        return bool(client.eval(_RELEASE, 1, OWNER_KEY, name) == 1)


@contextmanager
def private_services(
    tag: str, *, database: str | None = None, keep: bool = False
) -> Iterator[tuple[str, str]]:
    """Yield (database_url, redis_url) of a fresh database and a free Redis db number.

    `database` names an existing database to use instead of a fresh one (a bench's earlier seed,
    kept with `keep`: seeding at full scale takes minutes). Neither is dropped afterwards.
    """
    name = database or f"etl_bench_{tag}_{uuid.uuid4().hex[:6]}"
    redis_url = claim_redis_db(name)
    if redis_url is None:
        raise RuntimeError("no free, empty Redis db for the benchmark")
    if database is None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    keep = keep or database is not None
    db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield db_url, redis_url
    finally:
        if not release_redis_db(redis_url, name):
            print(f"warning: the benchmark's Redis db {redis_url} was flushed or taken meanwhile")
        if not keep:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
