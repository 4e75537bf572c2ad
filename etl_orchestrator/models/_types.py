"""Column helpers shared by the tables: UTC timestamps, portable JSON and big integer ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from etl_orchestrator.timeutil import UTCDateTime, utcnow

JSONType = JSON().with_variant(JSONB(), "postgresql")
#: SQLite only auto-increments an INTEGER PRIMARY KEY, so big ids are INTEGER there.
BigId = BigInteger().with_variant(Integer(), "sqlite")
#: Key of a schema item's `info` marking it as made on PostgreSQL only (its migration skips
#: SQLite), so schema comparisons on other databases leave it out.
POSTGRESQL_ONLY = "postgresql_only"


def ts_field(*, nullable: bool = True, index: bool = False, default_now: bool = False) -> Any:
    if default_now:
        return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def json_field(*, default_factory: Any = dict) -> Any:
    return Field(default_factory=default_factory, sa_type=JSONType, nullable=False)


__all__ = ["POSTGRESQL_ONLY", "BigId", "JSONType", "datetime", "json_field", "ts_field"]
