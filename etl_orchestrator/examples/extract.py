"""Extract jobs: copy each source system's tables unchanged into landing (raw_*) tables."""

from __future__ import annotations

from sqlalchemy import Table, select

from etl_orchestrator.examples import schema as wh
from etl_orchestrator.examples.data import ensure_sources
from etl_orchestrator.examples.load import (
    count_rows,
    insert_select,
    record_lineage,
    reset_table,
)
from etl_orchestrator.examples.schedule import DAILY
from etl_orchestrator.jobs import RetryPolicy, RunContext, job

_RETRY = RetryPolicy(max_attempts=3, base_s=5, factor=2, max_s=60)


def _land(ctx: RunContext, pairs: list[tuple[Table, Table]]) -> None:
    seeded = ensure_sources(ctx.warehouse)
    if seeded:
        ctx.log.info("demo sources were missing; generated %s", seeded)
    read = written = 0
    for source, landing in pairs:
        ctx.check_cancelled()
        read += count_rows(ctx.warehouse, source)
        reset_table(ctx.warehouse, landing)
        written += insert_select(ctx, landing, select(source))
    record_lineage(ctx, read=read, written=written, tables=[landing for _, landing in pairs])


@job(
    id="extract_orders",
    name="Extract orders",
    cron=DAILY,
    retry=_RETRY,
    tags=["extract", "sales"],
    domain="sales",
    reads=["src_orders", "src_order_lines"],
    writes=["raw_orders", "raw_order_lines"],
    timeout_s=600,
    priority=10,
)
def extract_orders(ctx: RunContext) -> None:
    """Land order headers and order lines from the shop system."""
    _land(ctx, [(wh.src_orders, wh.raw_orders), (wh.src_order_lines, wh.raw_order_lines)])


@job(
    id="extract_customers",
    name="Extract customers",
    cron=DAILY,
    retry=_RETRY,
    tags=["extract", "crm"],
    domain="crm",
    reads=["src_customers"],
    writes=["raw_customers"],
    timeout_s=300,
    priority=10,
)
def extract_customers(ctx: RunContext) -> None:
    """Land the CRM's customer export (several versions per customer)."""
    _land(ctx, [(wh.src_customers, wh.raw_customers)])


@job(
    id="extract_products",
    name="Extract products",
    cron=DAILY,
    retry=_RETRY,
    tags=["extract", "catalogue"],
    domain="catalogue",
    reads=["src_products"],
    writes=["raw_products"],
    timeout_s=300,
    priority=10,
)
def extract_products(ctx: RunContext) -> None:
    """Land the product catalogue."""
    _land(ctx, [(wh.src_products, wh.raw_products)])


@job(
    id="extract_stores",
    name="Extract stores",
    cron=DAILY,
    retry=_RETRY,
    tags=["extract", "stores"],
    domain="operations",
    reads=["src_stores"],
    writes=["raw_stores"],
    timeout_s=300,
)
def extract_stores(ctx: RunContext) -> None:
    """Land the store register."""
    _land(ctx, [(wh.src_stores, wh.raw_stores)])
