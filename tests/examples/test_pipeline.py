"""The demo pipeline on real rows, SQLite and PostgreSQL: lineage, checksums, dry-run, errors."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, func, inspect, select

from etl_orchestrator.dag import downstream_closure
from etl_orchestrator.examples import schema as wh
from etl_orchestrator.examples.data import DEFAULT_ORDERS, seed_sources
from etl_orchestrator.examples.load import count_rows
from etl_orchestrator.examples.operations import FLAKY_RETRY, flaky_attempt_fails
from etl_orchestrator.jobs import PermanentError, TransientError
from etl_orchestrator.jobs.warehouse import row_count, table_checksum, tables_checksum
from tests.examples.conftest import (
    SMALL_ORDERS,
    daily_order,
    run_job,
    run_pipeline,
    run_until_success,
)

MARCH = {"start": "2024-03-01", "end": "2024-03-31"}
IN_MARCH = (date(2024, 3, 1), date(2024, 3, 31))


def _keys(conn: Connection, table: str) -> list[str]:
    return list(inspect(conn).get_pk_constraint(table)["constrained_columns"])


def _rows(conn: Connection, table: str) -> int:
    return row_count(conn, table)


def _recomputed_checksum(conn: Connection, spec) -> str:
    """The checksum each job kind reports, computed afresh from the committed tables."""
    if spec.kind == "sql":
        return table_checksum(conn, spec.writes[0])
    if len(spec.writes) == 1:
        return table_checksum(conn, spec.writes[0], _keys(conn, spec.writes[0]))
    return tables_checksum(conn, {table: _keys(conn, table) for table in spec.writes})


def _snapshot(engine: Engine) -> dict[str, tuple[int, str]]:
    """Row count and content checksum of every table in the warehouse."""
    with engine.connect() as conn:
        return {
            table: (_rows(conn, table), table_checksum(conn, table))
            for table in sorted(inspect(conn).get_table_names())
        }


def test_pipeline_declares_a_diamond_a_fan_out_and_cron_roots(jobs):
    deps = {job_id: [d.job_id for d in spec.depends_on] for job_id, spec in jobs.items()}
    assert len(jobs) >= 8
    assert jobs["agg_daily_sales"].kind == "sql"
    fan_out = {job_id for job_id, ups in deps.items() if "fct_sales" in ups}
    assert {"agg_daily_sales", "agg_customer_ltv", "agg_product_performance"} <= fan_out
    # Diamond: rpt_monthly_kpis reaches fct_sales through two different aggregates.
    assert set(deps["rpt_monthly_kpis"]) == {"agg_daily_sales", "agg_customer_ltv"}
    assert {"stg_orders", "dim_customer", "dim_product"} <= set(deps["fct_sales"])
    roots = [job_id for job_id in daily_order(jobs) if not deps[job_id]]
    assert roots
    assert all(jobs[job_id].cron for job_id in roots)
    assert jobs["quarantine_bad_rows"].enabled is False
    assert "rpt_monthly_kpis" in downstream_closure(deps, ["extract_orders"])


def test_full_size_pipeline_reports_true_lineage_counts_and_checksums(warehouse, jobs):
    results = run_pipeline(jobs, warehouse)
    assert list(results) == daily_order(jobs)
    with warehouse.connect() as conn:
        assert count_rows(conn, wh.src_orders) == DEFAULT_ORDERS
        for job_id, ctx in results.items():
            spec, lineage = jobs[job_id], ctx.lineage_data
            assert lineage.tables == list(spec.writes), job_id
            written = sum(_rows(conn, table) for table in spec.writes)
            assert lineage.records_written == written, job_id
            assert lineage.records_read == sum(_rows(conn, table) for table in spec.reads), job_id
            assert lineage.checksum == _recomputed_checksum(conn, spec), job_id
        assert _rows(conn, "fct_sales") > 50_000


def test_figures_agree_from_staging_to_reports(built_warehouse):
    with built_warehouse.connect() as conn:
        f = wh.fct_sales.c
        completed = conn.execute(
            select(func.sum(f.net_cents)).where(f.status == "completed")
        ).scalar_one()
        for table in ("agg_daily_sales", "rpt_monthly_kpis"):
            total = conn.exec_driver_sql(f"SELECT SUM(net_cents) FROM {table}").scalar_one()
            assert total == completed, table
        known = (
            conn.execute(select(func.sum(wh.agg_customer_ltv.c.net_cents))).scalar_one()
            + conn.execute(
                select(func.sum(f.net_cents)).where(f.status == "completed", f.customer_key == 0)
            ).scalar_one()
        )
        assert known == completed
        s = wh.stg_orders.c
        assert count_rows(conn, wh.stg_orders) == count_rows(conn, wh.fct_sales)
        assert not conn.execute(
            select(func.count()).where((s.quantity <= 0) | (s.status == "cancelled"))
        ).scalar_one()
        newest = {}
        for row in conn.execute(
            select(wh.src_customers).order_by("updated_on", "row_id")
        ).mappings():
            newest[row["customer_id"]] = row["region"]
        c = wh.stg_customers.c
        staged = dict(conn.execute(select(c.customer_id, c.region)).tuples().all())
        assert staged == newest


def test_rerunning_the_pipeline_gives_the_same_tables_and_checksums(built_warehouse, jobs):
    before = _snapshot(built_warehouse)
    rerun = run_pipeline(jobs, built_warehouse, run_id=2)
    assert _snapshot(built_warehouse) == before
    with built_warehouse.connect() as conn:
        for job_id, ctx in rerun.items():
            assert ctx.lineage_data.checksum == _recomputed_checksum(conn, jobs[job_id]), job_id


def test_same_sources_give_the_same_tables_on_sqlite_and_postgresql(built_copy):
    sums = []
    for engine in (built_copy("sqlite"), built_copy("postgresql")):
        with engine.connect() as conn:
            sums.append(
                {
                    table: table_checksum(conn, table, _keys(conn, table))
                    for table in sorted(inspect(conn).get_table_names())
                }
            )
    assert sums[0] == sums[1]


def test_sql_job_reports_the_same_checksum_on_sqlite_and_postgresql(built_copy, jobs):
    spec = jobs["agg_daily_sales"]
    sums = [
        run_job(spec, built_copy(kind)).lineage_data.checksum for kind in ("sqlite", "postgresql")
    ]
    assert sums[0] is not None
    assert sums[0] == sums[1]


def test_dry_run_reports_the_work_but_leaves_the_warehouse_unchanged(built_warehouse, jobs):
    warehouse = built_warehouse
    seed_sources(warehouse, orders=SMALL_ORDERS // 2, seed=8)
    before = _snapshot(warehouse)
    results = run_pipeline(jobs, warehouse, dry_run=True, run_id=2)
    assert _snapshot(warehouse) == before
    extract = results["extract_orders"].lineage_data
    with warehouse.connect() as conn:
        assert extract.records_read == count_rows(conn, wh.src_orders, wh.src_order_lines)
        assert extract.records_written == extract.records_read
        assert count_rows(conn, wh.raw_orders) != count_rows(conn, wh.src_orders)


def test_dry_run_on_an_empty_warehouse_leaves_no_table_behind(warehouse, jobs):
    extract = run_job(jobs["extract_orders"], warehouse, dry_run=True)
    assert (extract.lineage_data.records_written or 0) > DEFAULT_ORDERS
    for job_id in ("stg_orders", "dim_date", "dim_customer", "fct_sales", "agg_customer_ltv"):
        ctx = run_job(jobs[job_id], warehouse, dry_run=True)
        assert ctx.lineage_data.tables == list(jobs[job_id].writes)
    with warehouse.connect() as conn:
        assert inspect(conn).get_table_names() == []


def test_a_real_run_with_missing_inputs_names_the_job_to_run_first(warehouse, jobs):
    with pytest.raises(PermanentError, match=r"raw_orders \(built by extract_orders\)"):
        run_job(jobs["stg_orders"], warehouse)


def test_backfill_params_reject_a_reversed_or_too_long_range_with_clear_messages(jobs):
    params = jobs["backfill_sales"].params
    with pytest.raises(ValidationError, match="end 2024-01-01 is before start 2024-02-01"):
        params.model_validate({"start": "2024-02-01", "end": "2024-01-01"})
    with pytest.raises(ValidationError, match=r"covers 367 days.*split it into several runs"):
        params.model_validate({"start": "2023-01-01", "end": "2024-01-02"})
    leap_year = params.model_validate({"start": "2024-01-01", "end": "2024-12-31"})
    assert leap_year.full_refresh is False


def test_backfill_with_invalid_params_fails_before_touching_the_warehouse(warehouse, jobs):
    with pytest.raises(ValidationError, match="is before start"):
        run_job(
            jobs["backfill_sales"], warehouse, params={"start": "2024-03-02", "end": "2024-03-01"}
        )
    with warehouse.connect() as conn:
        assert inspect(conn).get_table_names() == []


def test_backfill_reloads_a_lost_month_exactly(built_warehouse, jobs):
    warehouse = built_warehouse
    original = _snapshot(warehouse)
    f, s = wh.fct_sales.c, wh.stg_orders.c
    with warehouse.begin() as conn:
        lost = conn.execute(wh.fct_sales.delete().where(f.date_key.between(20240301, 20240331)))
    assert lost.rowcount > 0
    ctx = run_job(jobs["backfill_sales"], warehouse, params=MARCH)
    assert _snapshot(warehouse) == original
    with warehouse.connect() as conn:
        in_march = conn.execute(
            select(func.count()).where(s.order_date.between(*IN_MARCH))
        ).scalar_one()
        dims = count_rows(conn, wh.dim_date, wh.dim_customer, wh.dim_product, wh.dim_store)
        assert ctx.lineage_data.records_written == lost.rowcount == in_march
        assert ctx.lineage_data.records_read == in_march + dims
        assert ctx.lineage_data.checksum == table_checksum(
            conn, "fct_sales", _keys(conn, "fct_sales")
        )


def test_full_refresh_backfill_restages_the_month_from_the_raw_orders(built_warehouse, jobs):
    warehouse = built_warehouse
    original = _snapshot(warehouse)
    f, s = wh.fct_sales.c, wh.stg_orders.c
    with warehouse.begin() as conn:
        staged = conn.execute(wh.stg_orders.delete().where(s.order_date.between(*IN_MARCH)))
        facts = conn.execute(wh.fct_sales.delete().where(f.date_key.between(20240301, 20240331)))
    ctx = run_job(jobs["backfill_sales"], warehouse, params=MARCH | {"full_refresh": True})
    assert _snapshot(warehouse) == original
    assert ctx.lineage_data.records_written == staged.rowcount + facts.rowcount
    assert ctx.lineage_data.tables == ["stg_orders", "fct_sales"]
    with warehouse.connect() as conn:
        o, line = wh.raw_orders.c, wh.raw_order_lines.c
        raw = (
            conn.execute(select(func.count()).where(o.order_date.between(*IN_MARCH))).scalar_one()
            + conn.execute(
                select(func.count())
                .select_from(wh.raw_order_lines.join(wh.raw_orders, o.order_id == line.order_id))
                .where(o.order_date.between(*IN_MARCH))
            ).scalar_one()
        )
        dims = count_rows(conn, wh.dim_date, wh.dim_customer, wh.dim_product, wh.dim_store)
        assert ctx.lineage_data.records_read == raw + staged.rowcount + dims


def test_fact_load_refuses_order_dates_missing_from_the_calendar(built_warehouse, jobs):
    warehouse = built_warehouse
    with warehouse.begin() as conn:
        conn.execute(wh.dim_date.delete().where(wh.dim_date.c.date_key == 20240315))
    with pytest.raises(PermanentError, match=r"no row in dim_date.*run dim_date"):
        run_job(jobs["fct_sales"], warehouse)


def _bad_lines(conn: Connection) -> list[tuple[int, int]]:
    line = wh.src_order_lines.c
    known = select(wh.src_products.c.product_id)
    query = (
        select(line.order_id, line.line_no)
        .where((line.quantity <= 0) | (line.unit_price_cents < 0) | line.product_id.not_in(known))
        .order_by(line.order_id, line.line_no)
    )
    return [tuple(row) for row in conn.execute(query)]


def test_quality_gate_fails_permanently_naming_the_bad_rows(warehouse, jobs):
    seed_sources(warehouse, orders=SMALL_ORDERS * 3, seed=7)
    with warehouse.connect() as conn:
        bad = _bad_lines(conn)
    assert bad, "the seeded sources must contain bad lines for this test to mean anything"
    order_id, line_no = bad[0]
    with pytest.raises(PermanentError) as info:
        run_job(jobs["quarantine_bad_rows"], warehouse)
    assert f"{len(bad)} source order lines break the contract" in str(info.value)
    assert f"order {order_id} line {line_no}:" in str(info.value)
    assert f"max_bad_rows >= {len(bad)}" in str(info.value)
    with pytest.raises(PermanentError):
        run_job(jobs["quarantine_bad_rows"], warehouse, params={"max_bad_rows": len(bad) - 1})
    ctx = run_job(jobs["quarantine_bad_rows"], warehouse, params={"max_bad_rows": len(bad)})
    with warehouse.connect() as conn:
        assert ctx.lineage_data.records_written == count_rows(conn, wh.quarantine_order_lines)
        assert ctx.lineage_data.records_written == len(bad)


def test_flaky_job_fails_transiently_then_succeeds_on_a_later_attempt(warehouse, jobs):
    seed_sources(warehouse, orders=SMALL_ORDERS, seed=7)
    spec = jobs["flaky_inventory_sync"]
    run_id = next(n for n in range(1, 1000) if flaky_attempt_fails(n, 1))
    with pytest.raises(TransientError, match="attempt 1 of 5"):
        run_job(spec, warehouse, run_id=run_id, attempt=1)
    with warehouse.connect() as conn:
        assert "inventory_snapshot" not in inspect(conn).get_table_names()
    ctx, attempt = run_until_success(spec, warehouse, run_id=run_id)
    assert 1 < attempt <= spec.retry.max_attempts
    with warehouse.connect() as conn:
        assert ctx.lineage_data.records_written == count_rows(conn, wh.inventory_snapshot)
        assert ctx.lineage_data.records_read == count_rows(conn, wh.src_inventory)


def test_flaky_job_always_succeeds_within_its_retry_policy():
    outcomes = set()
    for run_id in range(1, 300):
        fails = [flaky_attempt_fails(run_id, n) for n in range(1, FLAKY_RETRY.max_attempts + 1)]
        assert not all(fails)
        outcomes.add(fails[0])
    assert outcomes == {True, False}
