"""The sales fact (one row per sold order line) and its parameterised backfill."""

from __future__ import annotations

from datetime import date
from typing import Any, Self

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import ColumnElement, Select, func, select

from etl_orchestrator.examples import schema as wh
from etl_orchestrator.examples.dimensions import UNKNOWN_KEY, date_key
from etl_orchestrator.examples.load import (
    count_rows,
    insert_select,
    record_lineage,
    require_inputs,
    reset_table,
)
from etl_orchestrator.examples.schedule import DAILY
from etl_orchestrator.examples.staging import staged_order_lines
from etl_orchestrator.jobs import PermanentError, RetryPolicy, RunContext, job

MAX_BACKFILL_DAYS = 366
_DIMENSIONS = {
    wh.dim_date: "dim_date",
    wh.dim_customer: "dim_customer",
    wh.dim_product: "dim_product",
    wh.dim_store: "dim_store",
}


def sales_rows(where: ColumnElement[bool] | None = None) -> Select[Any]:
    """stg_orders resolved to dimension keys and money figures, optionally filtered."""
    s, d = wh.stg_orders.c, wh.dim_date.c
    c, p, st = wh.dim_customer.c, wh.dim_product.c, wh.dim_store.c
    gross = s.quantity * s.unit_price_cents
    cost = s.quantity * func.coalesce(p.cost_cents, 0)
    query = select(
        s.order_id,
        s.line_no,
        d.date_key,
        func.coalesce(c.customer_key, UNKNOWN_KEY).label("customer_key"),
        func.coalesce(p.product_key, UNKNOWN_KEY).label("product_key"),
        func.coalesce(st.store_key, UNKNOWN_KEY).label("store_key"),
        s.channel,
        s.status,
        s.quantity,
        gross.label("gross_cents"),
        s.discount_cents,
        (gross - s.discount_cents).label("net_cents"),
        cost.label("cost_cents"),
        (gross - s.discount_cents - cost).label("margin_cents"),
    ).select_from(
        wh.stg_orders.join(wh.dim_date, d.calendar_date == s.order_date)
        .outerjoin(wh.dim_customer, c.customer_id == s.customer_id)
        .outerjoin(wh.dim_product, p.product_id == s.product_id)
        .outerjoin(wh.dim_store, st.store_id == s.store_id)
    )
    return query if where is None else query.where(where)


def _check_calendar(ctx: RunContext, where: ColumnElement[bool] | None) -> None:
    """Refuse to drop lines silently: every order date must be in dim_date."""
    s, d = wh.stg_orders.c, wh.dim_date.c
    query = (
        select(func.count(), func.min(s.order_date), func.max(s.order_date))
        .select_from(wh.stg_orders.outerjoin(wh.dim_date, d.calendar_date == s.order_date))
        .where(d.date_key.is_(None))
    )
    if where is not None:
        query = query.where(where)
    missing, first, last = ctx.warehouse.execute(query).one()
    if missing:
        raise PermanentError(
            f"{missing} order lines dated {first}..{last} have no row in dim_date: "
            "extend the calendar range in dim_date (examples/data.py CALENDAR_START/END) "
            "and run dim_date, then this job again"
        )


@job(
    id="fct_sales",
    name="Sales fact",
    cron=DAILY,
    depends_on=["stg_orders", "dim_customer", "dim_product", "dim_store", "dim_date"],
    retry=RetryPolicy(max_attempts=4, base_s=2, factor=2, max_s=60),
    tags=["fact", "sales"],
    domain="finance",
    reads=["stg_orders", "dim_date", "dim_customer", "dim_product", "dim_store"],
    writes=["fct_sales"],
    timeout_s=900,
    priority=5,
)
def fct_sales(ctx: RunContext) -> None:
    """Rebuild the sales fact: order lines with dimension keys, net revenue, cost and margin."""
    require_inputs(ctx, {wh.stg_orders: "stg_orders"} | _DIMENSIONS)
    _check_calendar(ctx, None)
    read = count_rows(ctx.warehouse, wh.stg_orders, *_DIMENSIONS)
    reset_table(ctx.warehouse, wh.fct_sales)
    written = insert_select(ctx, wh.fct_sales, sales_rows())
    record_lineage(ctx, read=read, written=written, tables=[wh.fct_sales])


class BackfillParams(BaseModel):
    """The dates to reload, inclusive, at most a year at a time."""

    start: date = Field(description="First order date to reload (inclusive)")
    end: date = Field(description="Last order date to reload (inclusive)")
    full_refresh: bool = Field(
        default=False, description="Also re-stage the range from the landed raw orders first"
    )

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        if self.end < self.start:
            raise ValueError(
                f"end {self.end} is before start {self.start}: "
                "give an end date on or after the start date"
            )
        days = (self.end - self.start).days + 1
        if days > MAX_BACKFILL_DAYS:
            raise ValueError(
                f"{self.start}..{self.end} covers {days} days, more than the "
                f"{MAX_BACKFILL_DAYS} a backfill may reload: split it into several runs"
            )
        return self


def _restage(ctx: RunContext, p: BackfillParams) -> tuple[int, int]:
    """Reload stg_orders for the range from the raw tables; returns (read, written)."""
    o, line = wh.raw_orders.c, wh.raw_order_lines.c
    in_range = o.order_date.between(p.start, p.end)
    orders_read = ctx.warehouse.execute(
        select(func.count()).select_from(wh.raw_orders).where(in_range)
    ).scalar_one()
    lines_read = ctx.warehouse.execute(
        select(func.count())
        .select_from(wh.raw_order_lines.join(wh.raw_orders, o.order_id == line.order_id))
        .where(in_range)
    ).scalar_one()
    ctx.warehouse.execute(
        wh.stg_orders.delete().where(wh.stg_orders.c.order_date.between(p.start, p.end))
    )
    written = insert_select(ctx, wh.stg_orders, staged_order_lines().where(in_range))
    return int(orders_read) + int(lines_read), written


@job(
    id="backfill_sales",
    name="Backfill sales",
    params=BackfillParams,
    retry=RetryPolicy(max_attempts=2, base_s=10, factor=2, max_s=60),
    tags=["fact", "sales", "backfill"],
    domain="finance",
    reads=[
        "raw_orders",
        "raw_order_lines",
        "stg_orders",
        "dim_date",
        "dim_customer",
        "dim_product",
        "dim_store",
    ],
    writes=["stg_orders", "fct_sales"],
    timeout_s=1800,
)
def backfill_sales(ctx: RunContext, p: BackfillParams) -> None:
    """Reload fct_sales for a date range; with full_refresh, re-stage the range first."""
    inputs = {wh.stg_orders: "stg_orders", wh.fct_sales: "fct_sales"} | _DIMENSIONS
    if p.full_refresh:
        inputs |= {wh.raw_orders: "extract_orders", wh.raw_order_lines: "extract_orders"}
    require_inputs(ctx, inputs)
    # The range's rows of the fact's sources, and the dimensions the keys are looked up in.
    read, written = count_rows(ctx.warehouse, *_DIMENSIONS), 0
    tables = [wh.fct_sales]
    if p.full_refresh:
        restage_read, written = _restage(ctx, p)
        read += restage_read
        tables.insert(0, wh.stg_orders)
    in_range = wh.stg_orders.c.order_date.between(p.start, p.end)
    _check_calendar(ctx, in_range)
    read += ctx.warehouse.execute(
        select(func.count()).select_from(wh.stg_orders).where(in_range)
    ).scalar_one()
    f = wh.fct_sales.c
    ctx.warehouse.execute(
        wh.fct_sales.delete().where(f.date_key.between(date_key(p.start), date_key(p.end)))
    )
    loaded = insert_select(ctx, wh.fct_sales, sales_rows(in_range))
    ctx.log.info("reloaded %d sales lines for %s..%s", loaded, p.start, p.end)
    record_lineage(ctx, read=read, written=written + loaded, tables=tables)
