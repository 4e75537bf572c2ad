"""Dimension jobs: customers, products, stores and the calendar, each with an unknown member.

Keys are the sources' own stable integer ids; key 0 is the unknown member that fact rows point
to when a source id has no match (a late-arriving customer, an online order without a store).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from etl_orchestrator.examples import schema as wh
from etl_orchestrator.examples.data import CALENDAR_END, CALENDAR_START
from etl_orchestrator.examples.load import record_lineage, replace_rows, require_inputs
from etl_orchestrator.examples.schedule import DAILY
from etl_orchestrator.jobs import RunContext, job

UNKNOWN_KEY = 0
# Spelled out rather than strftime("%A"), which follows the process locale.
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def date_key(day: date) -> int:
    """yyyymmdd as an integer: readable, sortable and the same on every backend."""
    return day.year * 10_000 + day.month * 100 + day.day


@job(
    id="dim_customer",
    name="Customer dimension",
    depends_on=["stg_customers"],
    tags=["dimension", "crm"],
    domain="crm",
    reads=["stg_customers"],
    writes=["dim_customer"],
    timeout_s=300,
)
def dim_customer(ctx: RunContext) -> None:
    """One row per customer plus the unknown member."""
    require_inputs(ctx, {wh.stg_customers: "stg_customers"})
    rows: list[dict[str, Any]] = [
        {
            "customer_key": UNKNOWN_KEY,
            "customer_id": None,
            "full_name": "Unknown customer",
            "email": None,
            "city": "Unknown",
            "region": "Unknown",
            "segment": "unknown",
            "signup_date": None,
        }
    ]
    c = wh.stg_customers.c
    for row in ctx.warehouse.execute(select(wh.stg_customers).order_by(c.customer_id)).mappings():
        rows.append(
            {
                "customer_key": row["customer_id"],
                "customer_id": row["customer_id"],
                "full_name": f"{row['first_name']} {row['last_name']}",
                "email": row["email"],
                "city": row["city"],
                "region": row["region"],
                "segment": row["segment"],
                "signup_date": row["signup_date"],
            }
        )
    written = replace_rows(ctx, wh.dim_customer, rows)
    record_lineage(ctx, read=len(rows) - 1, written=written, tables=[wh.dim_customer])


@job(
    id="dim_product",
    name="Product dimension",
    depends_on=["stg_products"],
    tags=["dimension", "catalogue"],
    domain="catalogue",
    reads=["stg_products"],
    writes=["dim_product"],
    timeout_s=300,
)
def dim_product(ctx: RunContext) -> None:
    """One row per product plus the unknown member."""
    require_inputs(ctx, {wh.stg_products: "stg_products"})
    rows: list[dict[str, Any]] = [
        {
            "product_key": UNKNOWN_KEY,
            "product_id": None,
            "sku": "UNKNOWN",
            "name": "Unknown product",
            "category": "Unknown",
            "list_price_cents": 0,
            "cost_cents": 0,
            "active": False,
        }
    ]
    p = wh.stg_products.c
    for row in ctx.warehouse.execute(select(wh.stg_products).order_by(p.product_id)).mappings():
        rows.append(
            {
                "product_key": row["product_id"],
                "product_id": row["product_id"],
                "sku": row["sku"],
                "name": row["name"],
                "category": row["category"],
                "list_price_cents": row["unit_price_cents"],
                "cost_cents": row["cost_cents"],
                "active": row["active"],
            }
        )
    written = replace_rows(ctx, wh.dim_product, rows)
    record_lineage(ctx, read=len(rows) - 1, written=written, tables=[wh.dim_product])


@job(
    id="dim_store",
    name="Store dimension",
    depends_on=["extract_stores"],
    tags=["dimension", "stores"],
    domain="operations",
    reads=["raw_stores"],
    writes=["dim_store"],
    timeout_s=300,
)
def dim_store(ctx: RunContext) -> None:
    """One row per store; the unknown member stands for web and app orders, which have none."""
    require_inputs(ctx, {wh.raw_stores: "extract_stores"})
    rows: list[dict[str, Any]] = [
        {
            "store_key": UNKNOWN_KEY,
            "store_id": None,
            "name": "Online (web and app)",
            "city": "Online",
            "region": "Online",
        }
    ]
    s = wh.raw_stores.c
    for row in ctx.warehouse.execute(select(wh.raw_stores).order_by(s.store_id)).mappings():
        rows.append(
            {
                "store_key": row["store_id"],
                "store_id": row["store_id"],
                "name": row["name"],
                "city": row["city"],
                "region": row["region"],
            }
        )
    written = replace_rows(ctx, wh.dim_store, rows)
    record_lineage(ctx, read=len(rows) - 1, written=written, tables=[wh.dim_store])


@job(
    id="dim_date",
    name="Calendar dimension",
    cron=DAILY,
    tags=["dimension", "calendar"],
    domain="finance",
    writes=["dim_date"],
    timeout_s=120,
    # It keeps nothing in its process between attempts: a pooled process may serve it.
    reuse_process=True,
)
def dim_date(ctx: RunContext) -> None:
    """The calendar, one row per day, over whole years around the order dates."""
    rows = []
    day = CALENDAR_START
    while day <= CALENDAR_END:
        rows.append(
            {
                "date_key": date_key(day),
                "calendar_date": day,
                "year": day.year,
                "quarter": (day.month - 1) // 3 + 1,
                "month": day.month,
                "day": day.day,
                "iso_week": day.isocalendar().week,
                "day_of_week": day.isoweekday(),
                "day_name": _DAYS[day.weekday()],
                "month_name": _MONTHS[day.month - 1],
                "is_weekend": day.isoweekday() >= 6,
            }
        )
        day += timedelta(days=1)
    written = replace_rows(ctx, wh.dim_date, rows)
    record_lineage(ctx, read=0, written=written, tables=[wh.dim_date])
