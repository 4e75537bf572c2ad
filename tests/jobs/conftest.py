"""Fixtures for job declaration tests: importable job modules and a warehouse on each database."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from etl_orchestrator.db import make_engine


@pytest.fixture
def jobs_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Write Python source as a new importable module and return its (unique) name."""
    folder = tmp_path / "job_modules"
    folder.mkdir(exist_ok=True)
    monkeypatch.syspath_prepend(str(folder))
    names: list[str] = []

    def write(source: str) -> str:
        name = f"etl_test_jobs_{uuid.uuid4().hex[:12]}"
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        return name

    yield write
    for name in names:
        sys.modules.pop(name, None)


@contextmanager
def open_warehouse(kind: str, tmp_path: Path, pg_url: str) -> Iterator[Engine]:
    """A warehouse engine: a SQLite file, or a private schema in the test PostgreSQL database."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / f'warehouse-{uuid.uuid4().hex[:8]}.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    schema = f"wh_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    engine = make_engine(f"{pg_url}?options=-csearch_path%3D{schema}", pool_size=1)
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> Iterator[Engine]:
    """Run the test once with a SQLite warehouse and once with a PostgreSQL one."""
    with open_warehouse(request.param, tmp_path, pg_url) as engine:
        yield engine
