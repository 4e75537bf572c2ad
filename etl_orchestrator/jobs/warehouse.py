"""Helpers jobs use on the warehouse connection: quoting table names, row counts, checksums."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection


def quote_table(conn: Connection, table: str) -> str:
    """Quote `table` or `schema.table` for this dialect, so any declared name is safe in SQL."""
    preparer = conn.dialect.identifier_preparer
    return ".".join(preparer.quote(part) for part in table.split("."))


def row_count(conn: Connection, table: str) -> int:
    return int(
        conn.exec_driver_sql(f"SELECT count(*) FROM {quote_table(conn, table)}").scalar_one()
    )


def _canonical(value: Any) -> str | None:
    """One tagged text form per value, so equal data hashes alike whatever the driver returns.

    Numbers become their shortest decimal text: PostgreSQL hands back NUMERIC 3.00 as a Decimal
    with its scale, SQLite stores the same value as the integer 3.
    """
    if value is None:
        return None
    if isinstance(value, bool | int):
        return f"n:{int(value)}"
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        return f"n:{format(value.normalize(), 'f')}" if value.is_finite() else f"n:{value}"
    if isinstance(value, str):
        return f"s:{value}"
    if isinstance(value, datetime | date | time):
        return f"t:{value.isoformat()}"
    if isinstance(value, timedelta):
        return f"d:{value.total_seconds()!r}"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"b:{base64.b64encode(bytes(value)).decode()}"
    return f"o:{value}"


def table_checksum(conn: Connection, table: str) -> str:
    """sha256 over the column names and every row, ordered by all columns: same data, same sum.

    Rows are streamed, so a large table is hashed without holding it in memory. The order is
    the database's, so text compared under different collations may hash differently on
    another database; numbers, and the same data on the same database, always agree.
    """
    quoted = quote_table(conn, table)
    result = conn.exec_driver_sql(f"SELECT * FROM {quoted} WHERE 1 = 0")
    columns = list(result.keys())
    result.close()
    digest = hashlib.sha256()
    digest.update(json.dumps(columns).encode())
    order = ", ".join(str(position) for position in range(1, len(columns) + 1))
    rows = conn.exec_driver_sql(
        f"SELECT * FROM {quoted} ORDER BY {order}", execution_options={"stream_results": True}
    )
    for row in rows:
        line = json.dumps([_canonical(value) for value in row], separators=(",", ":"))
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()
