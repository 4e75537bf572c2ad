"""Table checksums: they follow the rows, not insertion order, and agree across backends."""

from __future__ import annotations

import random
from datetime import date

from sqlalchemy import BigInteger, Boolean, Column, Date, Engine, Integer, MetaData, String, Table

from etl_orchestrator.examples.checksum import table_checksum, tables_checksum

ROWS: list[dict[str, object]] = [
    {"id": n, "name": name, "day": day, "flag": flag, "cents": cents}
    for n, (name, day, flag, cents) in enumerate(
        [
            ("Zoë", date(2024, 2, 29), True, 1_999),
            ("O'Brien", date(2023, 1, 1), False, -5),
            ("plain", None, True, 0),
            ("", date(2025, 12, 31), False, 10**12),
        ],
        start=1,
    )
]


def _table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(20), nullable=False),
        Column("day", Date),
        Column("flag", Boolean, nullable=False),
        Column("cents", BigInteger, nullable=False),
    )


def _load(engine: Engine, name: str, rows: list[dict[str, object]]) -> Table:
    metadata = MetaData()
    table = _table(metadata, name)
    with engine.begin() as conn:
        metadata.create_all(conn)
        if rows:
            conn.execute(table.insert(), rows)
    return table


def test_checksum_depends_on_the_rows_not_on_insertion_order(warehouse):
    shuffled = ROWS[:]
    random.Random(1).shuffle(shuffled)
    _load(warehouse, "a", ROWS)
    _load(warehouse, "b", shuffled)
    _load(warehouse, "c", [*ROWS[:-1], ROWS[-1] | {"cents": 10**12 + 1}])
    with warehouse.connect() as conn:
        a, b, c = (table_checksum(conn, name, ["id"]) for name in ("a", "b", "c"))
    assert a == b
    assert a != c


def test_checksum_of_an_empty_table_differs_from_one_with_rows(warehouse):
    _load(warehouse, "empty", [])
    _load(warehouse, "full", ROWS)
    with warehouse.connect() as conn:
        assert table_checksum(conn, "empty", ["id"]) != table_checksum(conn, "full", ["id"])


def test_equal_rows_have_equal_checksums_on_sqlite_and_postgresql(open_both):
    sums = []
    for engine in open_both:
        _load(engine, "t", ROWS)
        with engine.connect() as conn:
            sums.append(table_checksum(conn, "t", ["id"]))
    assert sums[0] == sums[1]


def test_combined_checksum_changes_when_any_table_changes(warehouse):
    _load(warehouse, "a", ROWS)
    _load(warehouse, "b", ROWS[:2])
    with warehouse.connect() as conn:
        before = tables_checksum(conn, {"a": ["id"], "b": ["id"]})
    with warehouse.begin() as conn:
        conn.exec_driver_sql("UPDATE b SET cents = cents + 1 WHERE id = 2")
    with warehouse.connect() as conn:
        assert tables_checksum(conn, {"a": ["id"], "b": ["id"]}) != before
