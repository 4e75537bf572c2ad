"""The demo warehouse's tables (sources, landing, staging, dimensions, facts, aggregates)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    String,
    Table,
)

WAREHOUSE = MetaData()


def _int(name: str, *, key: bool = False, null: bool = False) -> Column[int]:
    return Column(name, Integer, primary_key=key, nullable=null, autoincrement=False)


def _money(name: str) -> Column[int]:
    # Money is integer cents: exact on every backend and checksums compare across them.
    return Column(name, BigInteger, nullable=False)


def _text(name: str, length: int, *, null: bool = False) -> Column[str]:
    return Column(name, String(length), nullable=null)


def _landing_copy(source: Table, name: str) -> Table:
    """A landing table mirrors its source column for column; extraction copies rows unchanged."""
    return Table(name, WAREHOUSE, *(column._copy() for column in source.columns))


src_stores = Table(
    "src_stores",
    WAREHOUSE,
    _int("store_id", key=True),
    _text("name", 80),
    _text("city", 60),
    _text("region", 30),
    Column("opened_on", Date, nullable=False),
)

src_customers = Table(
    "src_customers",
    WAREHOUSE,
    # The CRM export holds one row per customer version, so customer_id repeats.
    _int("row_id", key=True),
    _int("customer_id"),
    _text("first_name", 60),
    _text("last_name", 60),
    _text("email", 120, null=True),
    _text("city", 60),
    _text("region", 30),
    _text("segment", 20),
    Column("signup_date", Date, nullable=False),
    Column("updated_on", Date, nullable=False),
)

src_products = Table(
    "src_products",
    WAREHOUSE,
    _int("product_id", key=True),
    _text("sku", 20),
    _text("name", 120),
    _text("category", 40),
    _money("unit_price_cents"),
    _money("cost_cents"),
    Column("active", Boolean, nullable=False),
)

src_orders = Table(
    "src_orders",
    WAREHOUSE,
    _int("order_id", key=True),
    _int("customer_id"),
    _int("store_id", null=True),
    Column("order_date", Date, nullable=False),
    _text("status", 12),
    _text("channel", 8),
)

src_order_lines = Table(
    "src_order_lines",
    WAREHOUSE,
    _int("order_id", key=True),
    _int("line_no", key=True),
    _int("product_id"),
    _int("quantity"),
    _money("unit_price_cents"),
    _money("discount_cents"),
)

src_inventory = Table(
    "src_inventory",
    WAREHOUSE,
    _int("store_id", key=True),
    _int("product_id", key=True),
    _int("on_hand"),
    _int("reorder_point"),
)

SOURCE_TABLES = (
    src_stores,
    src_customers,
    src_products,
    src_orders,
    src_order_lines,
    src_inventory,
)

raw_stores = _landing_copy(src_stores, "raw_stores")
raw_customers = _landing_copy(src_customers, "raw_customers")
raw_products = _landing_copy(src_products, "raw_products")
raw_orders = _landing_copy(src_orders, "raw_orders")
raw_order_lines = _landing_copy(src_order_lines, "raw_order_lines")

stg_customers = Table(
    "stg_customers",
    WAREHOUSE,
    _int("customer_id", key=True),
    _text("first_name", 60),
    _text("last_name", 60),
    _text("email", 120, null=True),
    _text("city", 60),
    _text("region", 30),
    _text("segment", 20),
    Column("signup_date", Date, nullable=False),
)

stg_products = Table(
    "stg_products",
    WAREHOUSE,
    _int("product_id", key=True),
    _text("sku", 20),
    _text("name", 120),
    _text("category", 40),
    _money("unit_price_cents"),
    _money("cost_cents"),
    Column("active", Boolean, nullable=False),
)

stg_orders = Table(
    "stg_orders",
    WAREHOUSE,
    # One row per valid order line, with its order's header.
    _int("order_id", key=True),
    _int("line_no", key=True),
    Column("order_date", Date, nullable=False),
    _int("customer_id"),
    _int("store_id", null=True),
    _text("channel", 8),
    _text("status", 12),
    _int("product_id"),
    _int("quantity"),
    _money("unit_price_cents"),
    _money("discount_cents"),
)

dim_customer = Table(
    "dim_customer",
    WAREHOUSE,
    _int("customer_key", key=True),
    _int("customer_id", null=True),
    _text("full_name", 121),
    _text("email", 120, null=True),
    _text("city", 60),
    _text("region", 30),
    _text("segment", 20),
    Column("signup_date", Date, nullable=True),
)

dim_product = Table(
    "dim_product",
    WAREHOUSE,
    _int("product_key", key=True),
    _int("product_id", null=True),
    _text("sku", 20),
    _text("name", 120),
    _text("category", 40),
    _money("list_price_cents"),
    _money("cost_cents"),
    Column("active", Boolean, nullable=False),
)

dim_store = Table(
    "dim_store",
    WAREHOUSE,
    _int("store_key", key=True),
    _int("store_id", null=True),
    _text("name", 80),
    _text("city", 60),
    _text("region", 30),
)

dim_date = Table(
    "dim_date",
    WAREHOUSE,
    _int("date_key", key=True),
    Column("calendar_date", Date, nullable=False, unique=True),
    _int("year"),
    _int("quarter"),
    _int("month"),
    _int("day"),
    _int("iso_week"),
    _int("day_of_week"),
    _text("day_name", 9),
    _text("month_name", 9),
    Column("is_weekend", Boolean, nullable=False),
)

fct_sales = Table(
    "fct_sales",
    WAREHOUSE,
    _int("order_id", key=True),
    _int("line_no", key=True),
    _int("date_key"),
    _int("customer_key"),
    _int("product_key"),
    _int("store_key"),
    _text("channel", 8),
    _text("status", 12),
    _int("quantity"),
    _money("gross_cents"),
    _money("discount_cents"),
    _money("net_cents"),
    _money("cost_cents"),
    _money("margin_cents"),
)

agg_customer_ltv = Table(
    "agg_customer_ltv",
    WAREHOUSE,
    _int("customer_key", key=True),
    _int("customer_id", null=True),
    _int("orders"),
    _int("first_date_key"),
    _int("last_date_key"),
    _money("net_cents"),
    _money("returned_cents"),
    _money("avg_order_cents"),
    _text("tier", 10),
)

agg_product_performance = Table(
    "agg_product_performance",
    WAREHOUSE,
    _int("product_key", key=True),
    _int("product_id", null=True),
    _text("category", 40),
    Column("units_sold", BigInteger, nullable=False),
    _money("net_cents"),
    _money("margin_cents"),
    _int("margin_bp"),
    _int("revenue_rank"),
)

inventory_snapshot = Table(
    "inventory_snapshot",
    WAREHOUSE,
    _int("store_id", key=True),
    _int("product_id", key=True),
    _int("on_hand"),
    _int("reorder_point"),
    Column("needs_reorder", Boolean, nullable=False),
)

quarantine_order_lines = Table(
    "quarantine_order_lines",
    WAREHOUSE,
    _int("order_id", key=True),
    _int("line_no", key=True),
    _int("product_id"),
    _int("quantity"),
    _money("unit_price_cents"),
    _text("reason", 80),
)


def create_missing(conn: Connection, tables: Iterable[Table]) -> None:
    """Create the tables that do not exist yet, inside the caller's transaction."""
    WAREHOUSE.create_all(conn, tables=list(tables), checkfirst=True)
