"""Staging jobs: clean, deduplicate and validate the landed rows."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, select

from etl_orchestrator.examples import schema as wh
from etl_orchestrator.examples.load import (
    count_rows,
    insert_select,
    record_lineage,
    replace_rows,
    require_inputs,
    reset_table,
)
from etl_orchestrator.jobs import RunContext, job

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def staged_order_lines() -> Select[Any]:
    """Order lines with their order header, minus cancelled orders and impossible lines."""
    o, line = wh.raw_orders.c, wh.raw_order_lines.c
    return (
        select(
            o.order_id,
            line.line_no,
            o.order_date,
            o.customer_id,
            o.store_id,
            o.channel,
            o.status,
            line.product_id,
            line.quantity,
            line.unit_price_cents,
            line.discount_cents,
        )
        .select_from(wh.raw_order_lines.join(wh.raw_orders, o.order_id == line.order_id))
        .where(o.status != "cancelled", line.quantity > 0, line.unit_price_cents >= 0)
    )


@job(
    id="stg_orders",
    name="Stage orders",
    depends_on=["extract_orders"],
    tags=["staging", "sales"],
    domain="sales",
    reads=["raw_orders", "raw_order_lines"],
    writes=["stg_orders"],
    timeout_s=600,
)
def stg_orders(ctx: RunContext) -> None:
    """Join order lines to their orders; drop cancelled orders and impossible lines."""
    require_inputs(ctx, {wh.raw_orders: "extract_orders", wh.raw_order_lines: "extract_orders"})
    conn = ctx.warehouse
    read = count_rows(conn, wh.raw_orders, wh.raw_order_lines)
    reset_table(conn, wh.stg_orders)
    written = insert_select(ctx, wh.stg_orders, staged_order_lines())
    ctx.log.info("%d of %d order lines kept", written, count_rows(conn, wh.raw_order_lines))
    record_lineage(ctx, read=read, written=written, tables=[wh.stg_orders])


def _tidy_name(value: str) -> str:
    value = " ".join(value.split())
    # Only fix names typed all in one case: mixed case ("McDonald") is already deliberate.
    return value.title() if value.islower() or value.isupper() else value


def _tidy_email(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    return value if _EMAIL.match(value) else None


@job(
    id="stg_customers",
    name="Stage customers",
    depends_on=["extract_customers"],
    tags=["staging", "crm"],
    domain="crm",
    reads=["raw_customers"],
    writes=["stg_customers"],
    timeout_s=300,
)
def stg_customers(ctx: RunContext) -> None:
    """Keep each customer's newest version; tidy names and emails, blank invalid emails."""
    require_inputs(ctx, {wh.raw_customers: "extract_customers"})
    c = wh.raw_customers.c
    latest: dict[int, dict[str, Any]] = {}
    read = invalid_emails = 0
    query = select(wh.raw_customers).order_by(c.customer_id, c.updated_on, c.row_id)
    for version in ctx.warehouse.execute(query).mappings():
        read += 1
        latest[version["customer_id"]] = dict(version)
    rows = []
    for row in latest.values():
        email = _tidy_email(row["email"])
        invalid_emails += email is None and row["email"] is not None
        rows.append(
            {
                "customer_id": row["customer_id"],
                "first_name": _tidy_name(row["first_name"]),
                "last_name": _tidy_name(row["last_name"]),
                "email": email,
                "city": row["city"],
                "region": row["region"],
                "segment": row["segment"],
                "signup_date": row["signup_date"],
            }
        )
    written = replace_rows(ctx, wh.stg_customers, rows)
    ctx.log.info(
        "%d versions → %d customers; %d invalid emails blanked", read, written, invalid_emails
    )
    record_lineage(ctx, read=read, written=written, tables=[wh.stg_customers])


@job(
    id="stg_products",
    name="Stage products",
    depends_on=["extract_products"],
    tags=["staging", "catalogue"],
    domain="catalogue",
    reads=["raw_products"],
    writes=["stg_products"],
    timeout_s=300,
)
def stg_products(ctx: RunContext) -> None:
    """Tidy product names and normalise category spelling."""
    require_inputs(ctx, {wh.raw_products: "extract_products"})
    rows = [
        dict(row)
        | {
            "name": " ".join(row["name"].split()),
            "category": " ".join(row["category"].split()).title(),
        }
        for row in ctx.warehouse.execute(
            select(wh.raw_products).order_by(wh.raw_products.c.product_id)
        ).mappings()
    ]
    written = replace_rows(ctx, wh.stg_products, rows)
    record_lineage(ctx, read=len(rows), written=written, tables=[wh.stg_products])
