"""Deterministic sha256 checksums of warehouse tables, equal for equal rows on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, MetaData, Table, select


def _canonical(value: Any) -> Any:
    # Backends hand back different Python types for the same stored value; normalise them.
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    return value


def table_checksum(conn: Connection, table: str | Table, order_by: Sequence[str]) -> str:
    """sha256 over every row of `table` in `order_by` order (columns in declared order).

    `order_by` must be a unique key made of integer columns: text ordering depends on the
    backend's collation, and the checksum must not.
    """
    if isinstance(table, str):
        # Reflection gives typed columns, so SQLite's text dates come back as dates too.
        table = Table(table, MetaData(), autoload_with=conn)
    digest = hashlib.sha256()
    digest.update(json.dumps([column.name for column in table.columns]).encode())
    query = select(table).order_by(*(table.c[name] for name in order_by))
    for row in conn.execute(query):
        digest.update(b"\n")
        digest.update(json.dumps([_canonical(value) for value in row], default=str).encode())
    return digest.hexdigest()


def tables_checksum(conn: Connection, tables: Mapping[str, Sequence[str]]) -> str:
    """One checksum for a job that writes several tables: sha256 over each table's checksum."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        digest.update(f"{name}:{table_checksum(conn, name, tables[name])}\n".encode())
    return digest.hexdigest()
