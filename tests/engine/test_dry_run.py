"""Real dry-runs through the engine: the demo load job reports its work and changes nothing."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import MetaData, Table, func, select

from etl_orchestrator.db import make_engine, session_scope
from etl_orchestrator.jobs.spec import JobSpec, RetryPolicy
from etl_orchestrator.jobs.warehouse import table_checksum
from etl_orchestrator.models import Run
from etl_orchestrator.services import catalog
from etl_orchestrator.services import runs as run_service
from tests.engine.conftest import spec

pytestmark = pytest.mark.slow
LANDED = ("raw_orders", "raw_order_lines")


def demo_specs() -> dict[str, JobSpec]:
    specs = catalog.job_specs(("etl_orchestrator.examples.pipeline",))
    return {job_id: specs[job_id] for job_id in ("extract_orders", "stg_orders")}


def warehouse_state(url: str) -> dict[str, tuple[int, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            state = {}
            for name in LANDED:
                table = Table(name, MetaData(), autoload_with=conn)
                count = conn.execute(select(func.count()).select_from(table)).scalar_one()
                state[name] = (count, table_checksum(conn, table))
            return state
    finally:
        engine.dispose()


async def test_a_dry_run_of_a_demo_load_job_reports_its_rows_and_leaves_the_warehouse_as_it_was(
    engine, etl_env
):
    engine.declare(*demo_specs().values())
    await engine.start()
    [real] = engine.trigger("extract_orders")
    assert (await engine.wait_final([real]))[real].status == "succeeded"
    url = os.environ["WAREHOUSE_URL"]
    before = warehouse_state(url)
    # Change the sources so that a committed dry-run would show in the landed tables.
    src = make_engine(url)
    with src.begin() as conn:
        lines = Table("src_order_lines", MetaData(), autoload_with=conn)
        conn.execute(lines.delete().where(lines.c.order_id % 2 == 0))
    src.dispose()

    [dry] = engine.trigger("extract_orders", dry_run=True)
    run = (await engine.wait_final([dry]))[dry]
    assert run.status == "succeeded"
    assert run.dry_run is True
    assert run.records_written is not None
    assert run.records_written > 0
    assert run.records_written != (await engine.wait_final([real]))[real].records_written
    assert set(run.affected_tables) == set(LANDED)
    assert run.checksum
    assert warehouse_state(url) == before


def no_dry_run(ctx) -> None:
    raise AssertionError("must never start")


def test_a_job_that_cannot_be_dry_run_is_refused_before_anything_is_queued(engine):
    engine.declare(
        spec("sends_mail", no_dry_run, supports_dry_run=False, retry=RetryPolicy(max_attempts=1))
    )
    with pytest.raises(run_service.TriggerError, match="cannot dry-run: sends_mail"):
        engine.trigger("sends_mail", dry_run=True)
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(Run)).scalar_one() == 0
