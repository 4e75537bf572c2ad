"""Helpers jobs use on the warehouse connection: quoting table names, row counts, checksums."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    MetaData,
    Numeric,
    Select,
    Table,
    Time,
    select,
    type_coerce,
)
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine

Convert = Callable[[Any], Any]


def quote_table(conn: Connection, table: str) -> str:
    """Quote `table` or `schema.table` for this dialect, so any declared name is safe in SQL."""
    preparer = conn.dialect.identifier_preparer
    return ".".join(preparer.quote(part) for part in table.split("."))


def row_count(conn: Connection, table: str) -> int:
    return int(
        conn.exec_driver_sql(f"SELECT count(*) FROM {quote_table(conn, table)}").scalar_one()
    )


def _as_int(value: Any) -> Any:
    return int(value) if isinstance(value, int) else value


def _as_number(value: Any) -> Any:
    """Shortest exact form: PostgreSQL returns NUMERIC 3.00 as Decimal('3.00'), SQLite as 3."""
    if not isinstance(value, float | Decimal):
        return value  # ints are exact already; SQLite may keep odd text in a NUMERIC column
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if not number.is_finite():
        return str(number)
    return int(number) if number == number.to_integral_value() else str(number.normalize())


def _datetime_text(value: datetime) -> str:
    # Aware values compare in UTC: naive timestamps in the warehouse are UTC by convention.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat()


# SQLite hands temporal values back as the text they were written as; parsing them here (not
# with SQLAlchemy's processors, which raise on odd text or cut "2024-03-01 12:00" down to a
# date) gives PostgreSQL's form, and text that is no date stays as it is.
def _as_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    return value.isoformat() if isinstance(value, date) else value


def _as_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return _datetime_text(value) if isinstance(value, datetime) else value


def _as_time(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = time.fromisoformat(value)
        except ValueError:
            return value
    return value.isoformat() if isinstance(value, time) else value


def _as_any(value: Any) -> Any:
    """For columns whose type reflection cannot name (SQLite's CREATE TABLE … AS SELECT)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, date | time):
        return value.isoformat()
    return _as_number(value)


def _converter(column_type: TypeEngine[Any]) -> Convert | None:
    """How to bring one column's values to one form whatever the backend's driver returned.

    Chosen per column, not per value: checksums run over tables of 100,000 rows. Integers,
    text and bytes come back alike from both drivers and need none.
    """
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, Boolean):
        return _as_int
    if isinstance(column_type, DateTime):
        return _as_datetime
    if isinstance(column_type, Date):
        return _as_date
    if isinstance(column_type, Time):
        return _as_time
    if isinstance(column_type, Numeric):  # decimals and floats; Integer is not a Numeric here
        return _as_number
    if isinstance(column_type, NullType):
        return _as_any
    return None


def _lines(
    conn: Connection, query: Select[Any], converters: list[tuple[int, Convert]]
) -> Iterator[bytes]:
    """Each row in one canonical text form, streamed so a large table is never held in memory."""
    for row in conn.execute(query, execution_options={"stream_results": True}):
        values = list(row)
        for position, convert in converters:
            values[position] = convert(values[position])
        # repr of ints, strings and None is stable and far cheaper than JSON per row; it
        # escapes newlines, so one row is one line.
        yield repr(values).encode()


def _reflect(conn: Connection, table: str) -> Table:
    schema, _, name = table.rpartition(".")
    # Reflection gives typed columns, so SQLite's text dates are known to be dates.
    return Table(name, MetaData(), schema=schema or None, autoload_with=conn)


def table_checksum(
    conn: Connection, table: str | Table, order_by: Sequence[str] | None = None
) -> str:
    """sha256 over the column names and every row of `table`: equal rows, equal checksum.

    Equal on SQLite and PostgreSQL too: each value is first brought to one form by its
    column's type (dates and timestamps as ISO text, aware ones in UTC; booleans as 0/1;
    decimals and floats as their shortest exact number). Other types (JSON, UUID, intervals)
    are hashed as the driver returns them and may differ between backends.

    With `order_by` (column names), rows are hashed in that order, which must be unique.
    Prefer integer key columns there: text orders by the database's collation, which differs
    between backends. Without it, the checksum does not depend on row order at all: each
    row's sha256 is added up (a multiset hash), so no ORDER BY is needed, nothing is held in
    memory, and collation or NULL placement cannot change the result. That sum detects any
    change to the rows, but is not meant to resist someone crafting a collision on purpose.
    The two modes give different checksums for the same table.
    """
    if isinstance(table, str):
        table = _reflect(conn, table)
    columns = list(table.columns)
    converters = [(n, f) for n, c in enumerate(columns) if (f := _converter(c.type))]
    # Raw driver values: the converters above read SQLite's text themselves.
    query = select(*(type_coerce(column, NullType()) for column in columns))
    digest = hashlib.sha256(json.dumps([column.name for column in columns]).encode())
    if order_by is None:
        total = count = 0
        for line in _lines(conn, query, converters):
            total += int.from_bytes(hashlib.sha256(line).digest(), "big")
            count += 1
        digest.update(f"\nrows {count} sum {total}".encode())
        return digest.hexdigest()
    unknown = [name for name in order_by if name not in table.c]
    if unknown:
        raise ValueError(
            f"cannot order table {table.name!r} by {', '.join(map(repr, unknown))}: no such "
            f"column. Pass columns of {[column.name for column in columns]}, or None."
        )
    for line in _lines(conn, query.order_by(*(table.c[name] for name in order_by)), converters):
        digest.update(b"\n" + line)
    return digest.hexdigest()


def tables_checksum(conn: Connection, tables: Mapping[str, Sequence[str] | None]) -> str:
    """One checksum for a job that writes several tables: sha256 over each table's checksum.

    `tables` maps each table name to its `order_by` for table_checksum (None: any order).
    """
    digest = hashlib.sha256()
    for name in sorted(tables):
        digest.update(f"{name}:{table_checksum(conn, name, tables[name])}\n".encode())
    return digest.hexdigest()
