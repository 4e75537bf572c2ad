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


@contextmanager
def private_services(
    tag: str, *, database: str | None = None, keep: bool = False
) -> Iterator[tuple[str, str]]:
    """Yield (database_url, redis_url) of a fresh database and a free Redis db number.

    `database` names an existing database to use instead of a fresh one (a bench's earlier seed,
    kept with `keep`: seeding at full scale takes minutes). Neither is dropped afterwards.
    """
    name = database or f"etl_bench_{tag}_{uuid.uuid4().hex[:6]}"
    if database is None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    keep = keep or database is not None
    db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    client = None
    redis_url = ""
    for number in range(15, 0, -1):
        candidate = redis.Redis.from_url(f"{REDIS_SERVER}/{number}")
        if candidate.set("etl:test-run-owner", name, nx=True, ex=3600):
            candidate.flushdb()
            client, redis_url = candidate, f"{REDIS_SERVER}/{number}"
            break
        candidate.close()
    if client is None:
        raise RuntimeError("no free Redis db number for the benchmark")
    try:
        yield db_url, redis_url
    finally:
        client.flushdb()
        client.close()
        if not keep:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
