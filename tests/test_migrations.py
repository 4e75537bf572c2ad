"""The migration chain: empty PostgreSQL and SQLite to head and back, matching the models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from alembic import command
from etl_orchestrator.db import make_engine, session_scope
from etl_orchestrator.migrations import alembic_config, include_object_for, upgrade
from etl_orchestrator.models import Job
from tests.conftest import PG_ADMIN

TABLES = {
    "dw_etl_jobs",
    "dw_etl_job_dependencies",
    "dw_etl_runs",
    "dw_etl_run_attempts",
    "dw_etl_run_events",
    "dw_etl_run_logs",
    "dw_etl_settings",
    "dw_etl_settings_history",
    "dw_etl_audit",
    "dw_etl_users",
    "dw_etl_sessions",
    "dw_etl_api_tokens",
    "dw_etl_alerts",
    "dw_etl_workers",
}


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_db(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"etl_mig_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Alembic warns that SQLite cannot reflect the jobs search's expression index before
# include_object leaves that PostgreSQL-only index out of the comparison.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_an_empty_database_upgrades_to_head_matching_the_models_and_downgrades_to_nothing(
    empty_db,
):
    upgrade(empty_db)
    engine = make_engine(empty_db)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= TABLES
            context = MigrationContext.configure(
                conn, opts={"include_object": include_object_for(conn.dialect.name)}
            )
            diffs = compare_metadata(context, SQLModel.metadata)
            assert diffs == []
        command.downgrade(alembic_config(empty_db), "base")
        with engine.connect() as conn:
            assert not TABLES & set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_timestamps_come_back_timezone_aware_utc_from_both_databases(any_db):
    written = datetime(2026, 3, 29, 1, 30, 15, 123000, tzinfo=UTC)
    with session_scope() as session:
        session.add(Job(job_id="tz_probe", name="tz probe", next_run_at=written))
    with session_scope() as session:
        job = session.get(Job, "tz_probe")
        assert job is not None
        assert job.next_run_at == written
        assert job.next_run_at.utcoffset() is not None
        assert job.created_at.tzinfo is not None


def test_a_naive_timestamp_is_refused_rather_than_guessed(any_db):
    with pytest.raises(Exception, match="naive datetime"), session_scope() as session:
        session.add(Job(job_id="naive", name="naive", next_run_at=datetime(2026, 1, 1)))


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_url):
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() >= 5000
    finally:
        engine.dispose()
