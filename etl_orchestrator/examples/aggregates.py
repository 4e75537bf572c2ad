"""Aggregates fanning out from the sales fact: customer lifetime value and product performance."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, case, cast, func, select

from etl_orchestrator.examples import schema as wh
from etl_orchestrator.examples.dimensions import UNKNOWN_KEY
from etl_orchestrator.examples.load import (
    count_rows,
    record_lineage,
    replace_rows,
    require_inputs,
)
from etl_orchestrator.jobs import RunContext, job

#: Lifetime net revenue (cents) from which a customer reaches each tier, highest first.
TIERS = (("platinum", 1_000_000), ("gold", 500_000), ("silver", 200_000), ("bronze", 0))


def _sum_if(status: str, value: ColumnElement[Any]) -> ColumnElement[int]:
    # PostgreSQL sums bigints as numeric; the cast keeps Python ints on every backend.
    return cast(func.sum(case((wh.fct_sales.c.status == status, value), else_=0)), BigInteger)


def tier_for(net_cents: int) -> str:
    return next(name for name, floor in TIERS if net_cents >= floor)


@job(
    id="agg_customer_ltv",
    name="Customer lifetime value",
    depends_on=["fct_sales"],
    tags=["aggregate", "crm"],
    domain="crm",
    reads=["fct_sales", "dim_customer"],
    writes=["agg_customer_ltv"],
    timeout_s=600,
)
def agg_customer_ltv(ctx: RunContext) -> None:
    """Orders, first and last purchase, net and returned revenue and a tier per known customer."""
    require_inputs(ctx, {wh.fct_sales: "fct_sales", wh.dim_customer: "dim_customer"})
    f, c = wh.fct_sales.c, wh.dim_customer.c
    query = (
        select(
            f.customer_key,
            c.customer_id,
            func.count(case((f.status == "completed", f.order_id)).distinct()),
            func.min(f.date_key),
            func.max(f.date_key),
            _sum_if("completed", f.net_cents),
            _sum_if("returned", f.net_cents),
        )
        .select_from(wh.fct_sales.join(wh.dim_customer, c.customer_key == f.customer_key))
        .where(f.customer_key != UNKNOWN_KEY)
        .group_by(f.customer_key, c.customer_id)
    )
    rows = []
    for key, customer_id, orders, first, last, net, returned in ctx.warehouse.execute(query):
        rows.append(
            {
                "customer_key": key,
                "customer_id": customer_id,
                "orders": orders,
                "first_date_key": first,
                "last_date_key": last,
                "net_cents": net,
                "returned_cents": returned,
                "avg_order_cents": net // orders if orders else 0,
                "tier": tier_for(net),
            }
        )
    read = count_rows(ctx.warehouse, wh.fct_sales, wh.dim_customer)
    written = replace_rows(ctx, wh.agg_customer_ltv, rows)
    record_lineage(ctx, read=read, written=written, tables=[wh.agg_customer_ltv])


@job(
    id="agg_product_performance",
    name="Product performance",
    depends_on=["fct_sales"],
    tags=["aggregate", "catalogue"],
    domain="catalogue",
    reads=["fct_sales", "dim_product"],
    writes=["agg_product_performance"],
    timeout_s=600,
)
def agg_product_performance(ctx: RunContext) -> None:
    """Units, net revenue, margin and revenue rank per known product (completed orders)."""
    require_inputs(ctx, {wh.fct_sales: "fct_sales", wh.dim_product: "dim_product"})
    f, p = wh.fct_sales.c, wh.dim_product.c
    query = (
        select(
            f.product_key,
            p.product_id,
            p.category,
            _sum_if("completed", f.quantity),
            _sum_if("completed", f.net_cents),
            _sum_if("completed", f.margin_cents),
        )
        .select_from(wh.fct_sales.join(wh.dim_product, p.product_key == f.product_key))
        .where(f.product_key != UNKNOWN_KEY)
        .group_by(f.product_key, p.product_id, p.category)
    )
    figures = sorted(ctx.warehouse.execute(query), key=lambda row: (-row[4], row[0]))
    rows = [
        {
            "product_key": key,
            "product_id": product_id,
            "category": category,
            "units_sold": units,
            "net_cents": net,
            "margin_cents": margin,
            "margin_bp": margin * 10_000 // net if net > 0 else 0,
            "revenue_rank": rank,
        }
        for rank, (key, product_id, category, units, net, margin) in enumerate(figures, start=1)
    ]
    read = count_rows(ctx.warehouse, wh.fct_sales, wh.dim_product)
    written = replace_rows(ctx, wh.agg_product_performance, rows)
    record_lineage(ctx, read=read, written=written, tables=[wh.agg_product_performance])
