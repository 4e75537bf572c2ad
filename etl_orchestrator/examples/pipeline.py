"""The demo retail pipeline: every job of the example warehouse, for ETL_JOBS_MODULES.

extract_* → stg_* → dim_* ─┐
dim_date ──────────────────┴→ fct_sales ┬→ agg_daily_sales (SQL) ─┬→ rpt_monthly_kpis (SQL)
                                        ├→ agg_customer_ltv ──────┘
                                        └→ agg_product_performance
Daily crons start extract_*, dim_date and fct_sales; fct_sales waits for that day's upstreams.
Beside the graph: backfill_sales (manual, parameterised), flaky_inventory_sync (hourly, fails
at random and is retried), quarantine_bad_rows (a quality gate, disabled by default).

Lineage, as for SQL jobs: records read is the row count of the tables the job reads (for
backfill_sales, the rows of its date range), records written the rows inserted, and the
checksum covers the whole written table(s). The src_* sources are generated on first use by
the jobs that read them, or up front by `data.bootstrap()`.
"""

from __future__ import annotations

from pathlib import Path

from etl_orchestrator.examples.aggregates import agg_customer_ltv, agg_product_performance
from etl_orchestrator.examples.dimensions import dim_customer, dim_date, dim_product, dim_store
from etl_orchestrator.examples.extract import (
    extract_customers,
    extract_orders,
    extract_products,
    extract_stores,
)
from etl_orchestrator.examples.facts import backfill_sales, fct_sales
from etl_orchestrator.examples.operations import flaky_inventory_sync, quarantine_bad_rows
from etl_orchestrator.examples.staging import stg_customers, stg_orders, stg_products
from etl_orchestrator.jobs.sql import sql_jobs

SQL_DIR = Path(__file__).parent / "sql"
SQL_JOBS = sql_jobs(SQL_DIR)

__all__ = [
    "SQL_JOBS",
    "agg_customer_ltv",
    "agg_product_performance",
    "backfill_sales",
    "dim_customer",
    "dim_date",
    "dim_product",
    "dim_store",
    "extract_customers",
    "extract_orders",
    "extract_products",
    "extract_stores",
    "fct_sales",
    "flaky_inventory_sync",
    "quarantine_bad_rows",
    "stg_customers",
    "stg_orders",
    "stg_products",
]
