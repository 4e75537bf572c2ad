"""Warehouse helpers: quoting, row counts, and checksums that depend only on the data."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from etl_orchestrator.jobs.warehouse import row_count, table_checksum
from tests.jobs.conftest import open_warehouse

CREATE = "CREATE TABLE sales (day TEXT, store INTEGER, amount NUMERIC(10, 2), note TEXT)"
ROWS = [
    ("2024-03-01", 1, "10.50", "a"),
    ("2024-03-01", 2, "7.25", None),
    ("2024-03-02", 1, "3.00", "it's"),
]


def _load(engine: Engine, rows: Sequence[tuple[object, ...]], table: str = "sales") -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(CREATE.replace("sales", table))
        for row in rows:
            conn.exec_driver_sql(
                f"INSERT INTO {table} VALUES ("
                + ", ".join(
                    "NULL" if v is None else "'" + str(v).replace("'", "''") + "'" for v in row
                )
                + ")"
            )


def test_checksum_does_not_depend_on_insertion_order(warehouse):
    _load(warehouse, ROWS, "sales")
    _load(warehouse, list(reversed(ROWS)), "sales_copy")
    with warehouse.connect() as conn:
        assert table_checksum(conn, "sales") == table_checksum(conn, "sales_copy")


def test_checksum_changes_when_one_value_changes(warehouse):
    _load(warehouse, ROWS)
    with warehouse.begin() as conn:
        before = table_checksum(conn, "sales")
        conn.exec_driver_sql("UPDATE sales SET amount = 10.51 WHERE store = 1 AND amount = 10.50")
        assert table_checksum(conn, "sales") != before


def test_checksum_of_an_empty_table_differs_from_one_with_rows(warehouse):
    _load(warehouse, [])
    with warehouse.connect() as conn:
        empty = table_checksum(conn, "sales")
    _load(warehouse, ROWS[:1], "sales_one")
    with warehouse.connect() as conn:
        assert len(empty) == 64
        assert table_checksum(conn, "sales_one") != empty


def test_checksum_of_numbers_and_text_is_the_same_on_sqlite_and_postgresql(tmp_path, pg_url):
    sums = []
    for kind in ("sqlite", "postgresql"):
        with open_warehouse(kind, tmp_path, pg_url) as engine:
            _load(engine, ROWS)
            with engine.connect() as conn:
                sums.append(table_checksum(conn, "sales"))
    assert sums[0] == sums[1]


def test_row_count_and_quoting_accept_awkward_table_names(warehouse):
    _load(warehouse, ROWS, '"Daily Sales"')
    with warehouse.connect() as conn:
        assert row_count(conn, "Daily Sales") == 3
