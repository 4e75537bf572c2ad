"""Demo pipeline fixtures: a warehouse on each backend, the pipeline's jobs and a job runner."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine

from etl_orchestrator.dag import topological_order
from etl_orchestrator.db import make_engine
from etl_orchestrator.examples.data import seed_sources
from etl_orchestrator.jobs import JobSpec, RunContext, TransientError
from etl_orchestrator.jobs.registry import load_jobs
from etl_orchestrator.jobs.sql import run_sql_job
from tests.jobs.conftest import open_warehouse

PIPELINE = "etl_orchestrator.examples.pipeline"
#: A small seeded dataset for tests that need real rows but not the full-size demo.
SMALL_ORDERS = 3_000


@pytest.fixture(scope="session")
def jobs() -> dict[str, JobSpec]:
    return load_jobs([PIPELINE])


def daily_order(jobs: dict[str, JobSpec]) -> list[str]:
    """The jobs a day runs (enabled, no required parameters), upstreams first."""
    daily = {
        job_id: [dep.job_id for dep in spec.depends_on]
        for job_id, spec in jobs.items()
        if spec.enabled and spec.params is None
    }
    return topological_order(daily)


def run_job(
    spec: JobSpec,
    engine: Engine,
    *,
    params: dict[str, Any] | None = None,
    dry_run: bool = False,
    attempt: int = 1,
    run_id: int = 1,
) -> RunContext:
    """Run one attempt the way the worker does: commit on success, roll back otherwise."""
    ctx = RunContext(
        run_id=run_id,
        job_id=spec.id,
        attempt=attempt,
        params=None,
        dry_run=dry_run,
        warehouse_engine=engine,
    )
    try:
        if spec.params is not None:
            ctx.params = spec.params.model_validate(params or {})
        if spec.kind == "sql":
            run_sql_job(ctx, spec)
        elif spec.fn is None:
            raise AssertionError(f"{spec.id} has nothing to run")
        elif spec.params is None:
            spec.fn(ctx)
        else:
            spec.fn(ctx, ctx.params)
    except BaseException:
        ctx.finish(success=False)
        raise
    ctx.finish(success=True)
    return ctx


def run_until_success(spec: JobSpec, engine: Engine, **kwargs: Any) -> tuple[RunContext, int]:
    """Retry transient failures as the engine would, up to the job's max_attempts."""
    for attempt in range(1, spec.retry.max_attempts + 1):
        try:
            return run_job(spec, engine, attempt=attempt, **kwargs), attempt
        except TransientError:
            if attempt == spec.retry.max_attempts:
                raise
    raise AssertionError("unreachable")


def run_pipeline(
    jobs: dict[str, JobSpec], engine: Engine, *, dry_run: bool = False, run_id: int = 1
) -> dict[str, RunContext]:
    return {
        job_id: run_until_success(jobs[job_id], engine, dry_run=dry_run, run_id=run_id)[0]
        for job_id in daily_order(jobs)
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> Iterator[Engine]:
    """An empty warehouse: a SQLite file, or a private schema in the test PostgreSQL database."""
    with open_warehouse(request.param, tmp_path, pg_url) as engine:
        yield engine


@pytest.fixture
def open_both(tmp_path: Path, pg_url: str) -> Iterator[tuple[Engine, Engine]]:
    """A SQLite and a PostgreSQL warehouse at once, to compare results across backends."""
    with (
        open_warehouse("sqlite", tmp_path, pg_url) as sqlite,
        open_warehouse("postgresql", tmp_path, pg_url) as postgres,
    ):
        yield sqlite, postgres


def _schema_engine(pg_url: str, schema: str) -> Engine:
    return make_engine(f"{pg_url}?options=-csearch_path%3D{schema}", pool_size=1)


class BuiltWarehouses:
    """One warehouse per backend after a daily run on the small dataset, built once per session.

    Tests get private copies, so they may change them freely; copying is much cheaper than
    seeding and running the pipeline again for every test.
    """

    def __init__(self, folder: Path, pg_url: str, jobs: dict[str, JobSpec]) -> None:
        self.folder, self.pg_url, self.jobs = folder, pg_url, jobs
        self.sqlite_path: Path | None = None
        self.pg_schema: str | None = None

    def _build(self, engine: Engine) -> None:
        seed_sources(engine, orders=SMALL_ORDERS, seed=7)
        run_pipeline(self.jobs, engine)
        engine.dispose()

    def _sqlite_template(self) -> Path:
        if self.sqlite_path is None:
            path = self.folder / "built.db"
            self._build(make_engine(f"sqlite:///{path}"))
            self.sqlite_path = path
        return self.sqlite_path

    def _pg_template(self) -> str:
        if self.pg_schema is None:
            schema = f"wh_built_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            self._build(_schema_engine(self.pg_url, schema))
            self.pg_schema = schema
        return self.pg_schema

    @contextmanager
    def copy(self, kind: str, folder: Path) -> Iterator[Engine]:
        if kind == "sqlite":
            path = folder / f"warehouse-{uuid.uuid4().hex[:8]}.db"
            with (
                sqlite3.connect(self._sqlite_template()) as source,
                sqlite3.connect(path) as target,
            ):
                source.backup(target)
            engine = make_engine(f"sqlite:///{path}")
            try:
                yield engine
            finally:
                engine.dispose()
            return
        template, schema = self._pg_template(), f"wh_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.pg_url, autocommit=True) as conn, conn.transaction():
            conn.execute(f'CREATE SCHEMA "{schema}"')
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (template,)
            ).fetchall()
            for (table,) in tables:
                original, duplicate = f'"{template}"."{table}"', f'"{schema}"."{table}"'
                conn.execute(f"CREATE TABLE {duplicate} (LIKE {original} INCLUDING ALL)")
                conn.execute(f"INSERT INTO {duplicate} SELECT * FROM {original}")
        engine = _schema_engine(self.pg_url, schema)
        try:
            yield engine
        finally:
            engine.dispose()
            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    def drop(self) -> None:
        if self.pg_schema is not None:
            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{self.pg_schema}" CASCADE')


@pytest.fixture(scope="session")
def built_warehouses(
    tmp_path_factory: pytest.TempPathFactory, pg_url: str, jobs: dict[str, JobSpec]
) -> Iterator[BuiltWarehouses]:
    built = BuiltWarehouses(tmp_path_factory.mktemp("built-warehouse"), pg_url, jobs)
    yield built
    built.drop()


@pytest.fixture
def built_copy(
    built_warehouses: BuiltWarehouses, tmp_path: Path
) -> Iterator[Callable[[str], Engine]]:
    """Factory: a private copy of the small warehouse after one daily run, on "sqlite" or
    "postgresql"."""
    with ExitStack() as stack:
        yield lambda kind: stack.enter_context(built_warehouses.copy(kind, tmp_path))


@pytest.fixture(params=["sqlite", "postgresql"])
def built_warehouse(request: pytest.FixtureRequest, built_copy: Callable[[str], Engine]) -> Engine:
    """A private warehouse holding the small dataset after one daily run, on each backend."""
    return built_copy(request.param)
