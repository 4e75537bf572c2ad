"""Test fixtures: a private PostgreSQL database and Redis db per test run; SQLite templates."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from hypothesis import settings
from sqlalchemy import text
from sqlmodel import SQLModel

import etl_orchestrator.models  # noqa: F401
from etl_orchestrator import config, db, redis_conn
from etl_orchestrator.migrations import upgrade

# Hypothesis' per-example deadline measures the machine's load, not the code: CI has 2 cores.
settings.register_profile("etl", deadline=None)
settings.load_profile("etl")

PG_ADMIN = os.environ.get("ETL_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_SERVER = os.environ.get("ETL_TEST_REDIS", "redis://127.0.0.1:6379")
RUN_TAG = f"etl_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def _pg_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database of this test run's own, migrated to head, dropped at the end."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{RUN_TAG}"')
    url = _pg_url(RUN_TAG)
    upgrade(url)
    yield url
    db.dispose_engines(close=True)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{RUN_TAG}" WITH (FORCE)')


def _owner_alive(owner: str) -> bool:
    """Whether the test run that holds a Redis db is still running (a killed run leaves its
    claim behind; its process id is part of the tag)."""
    try:
        pid = int(owner.split("_")[2])
    except (IndexError, ValueError):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _empty_keeping_claim(client: redis.Redis) -> None:
    """Flush the db and set this run's claim again in one transaction: in between, a benchmark
    or another test run would see an empty, unclaimed db and take it too."""
    pipe = client.pipeline(transaction=True)
    pipe.flushdb()
    pipe.set("etl:test-run-owner", RUN_TAG, ex=6 * 3600)
    pipe.execute()


@pytest.fixture(scope="session")
def redis_db() -> Iterator[str]:
    """A Redis db number no other test run holds (arq's key names are fixed, so no prefix)."""
    for number in range(1, 16):
        client = redis.Redis.from_url(f"{REDIS_SERVER}/{number}")
        owner = client.get("etl:test-run-owner")
        if isinstance(owner, bytes) and not _owner_alive(owner.decode()):
            client.delete("etl:test-run-owner")
        if client.set("etl:test-run-owner", RUN_TAG, nx=True, ex=6 * 3600):
            _empty_keeping_claim(client)
            yield f"{REDIS_SERVER}/{number}"
            client.flushdb()
            client.close()
            return
        client.close()
    raise RuntimeError("every Redis db 1..15 is held by another test run")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "etl.db"
    upgrade(f"sqlite:///{path}")
    return path


def _reset_process_caches() -> None:
    config.get_settings.cache_clear()
    redis_conn.sync_client.cache_clear()
    db.dispose_engines(close=True)


@pytest.fixture(autouse=True)
def etl_env(
    monkeypatch: pytest.MonkeyPatch, pg_url: str, redis_db: str, tmp_path: Path
) -> Iterator[Path]:
    """Every test starts with empty tables, an empty Redis db and its own data folder."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("REDIS_URL", redis_db)
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{data_dir / 'warehouse.db'}")
    monkeypatch.setenv("ETL_PARALLEL_JOBS", "4")
    for name in ("ETL_ENV", "ETL_JOBS_MODULES", "BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    _reset_process_caches()
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with db.get_engine(pg_url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    keeper = redis.Redis.from_url(redis_db)
    _empty_keeping_claim(keeper)
    keeper.close()
    yield data_dir
    _reset_process_caches()


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Switch this test to a fresh, migrated SQLite database."""
    path = tmp_path / "etl.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    _reset_process_caches()
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def any_db(request: pytest.FixtureRequest, pg_url: str) -> str:
    """Run the test once on PostgreSQL and once on SQLite."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return pg_url
