"""Warehouse helpers: quoting, row counts, and checksums that depend only on the data."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
)

from etl_orchestrator.jobs.warehouse import row_count, table_checksum, tables_checksum
from tests.jobs.conftest import open_warehouse

#: Both checksum modes: rows in any order (a multiset hash) and rows in key order.
ORDERINGS = pytest.mark.parametrize("order_by", [None, ["id"]], ids=["any-order", "by-key"])

# Text that sorts differently under PostgreSQL's locale collation and SQLite's byte order,
# NULLs (which the two backends place at opposite ends), and every normalised type.
COLUMNS = ("id", "name", "day", "at", "flag", "amount", "ratio", "cents")
ROWS: list[dict[str, object]] = [
    dict(zip(COLUMNS, row, strict=True))
    for row in [
        (1, "Zoë", date(2024, 2, 29), datetime(2024, 2, 29, 23, 59, 59, 123456), True,
         Decimal("10.50"), 0.1, 1_999),
        (2, "O'Brien", date(2023, 1, 1), datetime(2023, 1, 1), False, Decimal("3.00"), None, -5),
        (3, "apple", None, None, True, Decimal("-0.25"), 2.5, 0),
        (4, "Banana", date(2025, 12, 31), datetime(2025, 12, 31, 8), False, Decimal("7"), -1e-7,
         10**12),
        (5, "", date(2024, 3, 1), datetime(2024, 3, 1, 12, 30), True, Decimal("0.01"), 0.0, 7),
    ]
]  # fmt: skip

SALES_DDL = (
    "CREATE TABLE {table} (day DATE, store INTEGER, amount NUMERIC(10, 2), note TEXT,"
    " paid BOOLEAN, at TIMESTAMP)"
)
SALES = [
    ("2024-03-01", 1, "10.50", "a", "1", "2024-03-01 09:15:00"),
    ("2024-03-01", 2, "7.25", None, "0", None),
    ("2024-03-02", 1, "3.00", "it's", "1", "2024-03-02 18:00:00.5"),
]


@pytest.fixture
def both(tmp_path: Path, pg_url: str) -> Iterator[tuple[Engine, Engine]]:
    """A SQLite and a PostgreSQL warehouse at once, to compare checksums across backends."""
    with (
        open_warehouse("sqlite", tmp_path, pg_url) as sqlite,
        open_warehouse("postgresql", tmp_path, pg_url) as postgres,
    ):
        yield sqlite, postgres


def _table(name: str) -> Table:
    return Table(
        name,
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(20), nullable=False),
        Column("day", Date),
        Column("at", DateTime),
        Column("flag", Boolean, nullable=False),
        Column("amount", Numeric(10, 2), nullable=False),
        Column("ratio", Float),
        Column("cents", BigInteger, nullable=False),
    )


def _load(engine: Engine, name: str, rows: Sequence[dict[str, object]]) -> Table:
    """A table declared with SQLAlchemy types, as the Python jobs write them."""
    table = _table(name)
    with engine.begin() as conn:
        table.create(conn)
        if rows:
            conn.execute(table.insert(), list(rows))
    return table


def _load_sql(engine: Engine, table: str, rows: Sequence[tuple[str | int | None, ...]]) -> None:
    """A table made by SQL text with literal values, as SQL jobs write them."""
    with engine.begin() as conn:
        conn.exec_driver_sql(SALES_DDL.format(table=table))
        for row in rows:
            values = ", ".join(
                "NULL" if v is None else "'" + str(v).replace("'", "''") + "'" for v in row
            )
            conn.exec_driver_sql(f"INSERT INTO {table} VALUES ({values})")


@ORDERINGS
def test_checksum_follows_the_rows_not_their_insertion_order(warehouse, order_by):
    shuffled = ROWS[:]
    random.Random(1).shuffle(shuffled)
    _load(warehouse, "a", ROWS)
    _load(warehouse, "b", shuffled)
    _load(warehouse, "c", [*ROWS[:-1], ROWS[-1] | {"amount": Decimal("0.02")}])
    with warehouse.connect() as conn:
        a, b, c = (table_checksum(conn, name, order_by) for name in ("a", "b", "c"))
    assert a == b
    assert a != c


@ORDERINGS
def test_checksum_of_an_empty_table_differs_from_one_with_rows(warehouse, order_by):
    _load(warehouse, "empty", [])
    _load(warehouse, "full", ROWS[:1])
    with warehouse.connect() as conn:
        empty = table_checksum(conn, "empty", order_by)
        assert len(empty) == 64
        assert table_checksum(conn, "full", order_by) != empty


def test_checksum_in_any_order_counts_duplicate_rows(warehouse):
    _load_sql(warehouse, "twice_first", [SALES[0], SALES[0], SALES[1]])
    _load_sql(warehouse, "twice_second", [SALES[0], SALES[1], SALES[1]])
    _load_sql(warehouse, "none", [])
    _load_sql(warehouse, "pair", [SALES[2], SALES[2]])
    with warehouse.connect() as conn:
        assert table_checksum(conn, "twice_first") != table_checksum(conn, "twice_second")
        assert table_checksum(conn, "pair") != table_checksum(conn, "none")


@ORDERINGS
def test_typed_rows_have_equal_checksums_on_sqlite_and_postgresql(both, order_by):
    sums = []
    for engine in both:
        table = _load(engine, "t", ROWS)
        with engine.connect() as conn:
            by_name = table_checksum(conn, "t", order_by)
            assert table_checksum(conn, table, order_by) == by_name
            sums.append(by_name)
    assert sums[0] == sums[1]


def test_tables_made_by_sql_text_have_equal_checksums_on_sqlite_and_postgresql(both):
    sums = []
    for engine in both:
        _load_sql(engine, "sales", SALES)
        with engine.connect() as conn:
            sums.append(table_checksum(conn, "sales"))
    assert sums[0] == sums[1]


def test_text_that_is_no_date_in_a_sqlite_date_column_is_hashed_as_written(tmp_path, pg_url):
    with open_warehouse("sqlite", tmp_path, pg_url) as engine:
        _load_sql(engine, "dated", [("2024-03-01", 1, "1", None, "1", None)])
        _load_sql(engine, "stamped", [("2024-03-01 12:00", 1, "1", None, "1", None)])
        _load_sql(engine, "garbled", [("yesterday", 1, "1", None, "1", "soon")])
        with engine.connect() as conn:
            sums = {table_checksum(conn, name) for name in ("dated", "stamped", "garbled")}
    assert len(sums) == 3


def test_combined_checksum_changes_when_any_table_changes(warehouse):
    _load(warehouse, "a", ROWS)
    _load_sql(warehouse, "b", SALES)
    tables: dict[str, list[str] | None] = {"a": ["id"], "b": None}
    with warehouse.connect() as conn:
        before = tables_checksum(conn, tables)
    with warehouse.begin() as conn:
        conn.exec_driver_sql("UPDATE b SET store = store + 1 WHERE note = 'a'")
    with warehouse.connect() as conn:
        assert tables_checksum(conn, tables) != before


def test_ordering_by_a_missing_column_says_which_columns_exist(warehouse):
    _load(warehouse, "t", ROWS[:1])
    with warehouse.connect() as conn, pytest.raises(ValueError) as info:
        table_checksum(conn, "t", ["id", "key"])
    assert "cannot order table 't' by 'key': no such column" in str(info.value)
    assert "'cents'" in str(info.value)


def test_row_count_and_checksum_accept_awkward_and_schema_qualified_names(warehouse):
    _load_sql(warehouse, '"Daily Sales"', SALES)
    _load_sql(warehouse, "sales", SALES)
    with warehouse.connect() as conn:
        schema = (
            "main"
            if conn.dialect.name == "sqlite"
            else conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        )
        assert row_count(conn, "Daily Sales") == 3
        assert row_count(conn, f"{schema}.Daily Sales") == 3
        plain = table_checksum(conn, "sales")
        assert table_checksum(conn, "Daily Sales") == plain
        assert table_checksum(conn, f"{schema}.Daily Sales") == plain
