"""Demo source data: deterministic generation, the promised size and dirt, idempotent seeding."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import inspect

from etl_orchestrator.examples import schema as wh
from etl_orchestrator.examples.data import (
    CUSTOMERS,
    DEFAULT_ORDERS,
    ORDERS_END,
    ORDERS_START,
    PRODUCTS,
    UNKNOWN_CUSTOMER_IDS,
    UNKNOWN_PRODUCT_IDS,
    bootstrap,
    ensure_sources,
    generate,
    seed_sources,
)
from etl_orchestrator.examples.load import count_rows


def test_generation_is_deterministic_per_seed_and_differs_between_seeds():
    first = generate(orders=500, seed=1)
    assert generate(orders=500, seed=1) == first
    assert generate(orders=500, seed=2)[wh.src_orders] != first[wh.src_orders]


def test_default_dataset_has_the_promised_size_and_deliberate_dirt():
    data = generate()
    orders, lines = data[wh.src_orders], data[wh.src_order_lines]
    customers, products = data[wh.src_customers], data[wh.src_products]
    assert len(orders) == DEFAULT_ORDERS
    assert 55_000 <= len(lines) <= 65_000
    assert len({row["customer_id"] for row in customers}) == CUSTOMERS
    assert len(customers) > CUSTOMERS, "some customers must repeat with older versions"
    assert len(products) == PRODUCTS
    assert len(data[wh.src_stores]) == 20
    assert len(data[wh.src_inventory]) == 20 * PRODUCTS
    assert all(ORDERS_START <= row["order_date"] <= ORDERS_END for row in orders)
    assert set(Counter(row["order_id"] for row in lines)) == {row["order_id"] for row in orders}
    assert any(row["customer_id"] in UNKNOWN_CUSTOMER_IDS for row in orders)
    assert any(row["product_id"] in UNKNOWN_PRODUCT_IDS for row in lines)
    assert any(row["quantity"] <= 0 for row in lines)
    assert {row["status"] for row in orders} == {"completed", "cancelled", "returned"}
    assert any(row["email"] != (row["email"] or "").strip().lower() for row in customers)


def test_seeding_reports_true_counts_and_reseeding_replaces_the_rows(warehouse):
    written = seed_sources(warehouse, orders=800, seed=3)
    with warehouse.connect() as conn:
        assert written == {t.name: count_rows(conn, t) for t in wh.SOURCE_TABLES}
    smaller = seed_sources(warehouse, orders=300, seed=3)
    with warehouse.connect() as conn:
        assert count_rows(conn, wh.src_orders) == 300
        assert smaller == {t.name: count_rows(conn, t) for t in wh.SOURCE_TABLES}


def test_sources_are_generated_only_when_missing(warehouse):
    assert bootstrap(warehouse, orders=400, seed=5)[wh.src_orders.name] == 400
    assert bootstrap(warehouse, orders=900, seed=5) == {}
    with warehouse.begin() as conn:
        assert ensure_sources(conn, orders=900) == {}
        assert count_rows(conn, wh.src_orders) == 400


def test_sources_generated_inside_a_rolled_back_transaction_leave_nothing(warehouse):
    with warehouse.connect() as conn, conn.begin() as transaction:
        assert ensure_sources(conn, orders=200)[wh.src_orders.name] == 200
        transaction.rollback()
    with warehouse.connect() as conn:
        assert inspect(conn).get_table_names() == []
