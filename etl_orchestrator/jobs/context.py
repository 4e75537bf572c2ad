"""RunContext: what a running job gets: params, dry-run flag, logger, warehouse and lineage."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine

from etl_orchestrator.jobs.errors import CancelledByUser


@dataclass
class Lineage:
    """What an attempt read and wrote; figures add up across calls to ctx.lineage()."""

    records_read: int | None = None
    records_written: int | None = None
    tables: list[str] = field(default_factory=list)
    checksum: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "records_read": self.records_read,
            "records_written": self.records_written,
            "affected_tables": list(self.tables),
            "checksum": self.checksum,
        }


class RunContext:
    """Handed to every job. On dry-run the warehouse transaction is rolled back at the end."""

    def __init__(
        self,
        *,
        run_id: int,
        job_id: str,
        attempt: int,
        params: BaseModel | None,
        dry_run: bool,
        warehouse_engine: Engine | Callable[[], Engine] | None,
        logger: logging.Logger | None = None,
        scheduled_for: datetime | None = None,
        cancel_check: Callable[[], bool] | None = None,
    ) -> None:
        self.run_id = run_id
        self.job_id = job_id
        self.attempt = attempt
        self.params = params
        self.dry_run = dry_run
        self.scheduled_for = scheduled_for
        self.log = logger or logging.getLogger(f"etl.job.{job_id}")
        self.lineage_data = Lineage()
        self._engine_source = warehouse_engine
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._cancel_check = cancel_check

    @property
    def warehouse(self) -> Connection:
        """A connection inside one transaction, opened on first use."""
        if self._conn is None:
            self._conn = self.warehouse_engine.connect()
            self._conn.begin()
        return self._conn

    @property
    def warehouse_engine(self) -> Engine:
        """The warehouse engine, created on first use (most jobs of a run never need a second)."""
        if self._engine is None:
            source = self._engine_source
            if source is None:
                raise RuntimeError("this run has no warehouse configured (WAREHOUSE_URL)")
            self._engine = source if isinstance(source, Engine) else source()
        return self._engine

    def lineage(
        self,
        *,
        read: int | None = None,
        written: int | None = None,
        tables: Sequence[str] = (),
        checksum: str | None = None,
    ) -> None:
        data = self.lineage_data
        if read is not None:
            data.records_read = (data.records_read or 0) + int(read)
        if written is not None:
            data.records_written = (data.records_written or 0) + int(written)
        for table in tables:
            if table not in data.tables:
                data.tables.append(table)
        if checksum is not None:
            data.checksum = checksum

    def is_cancelled(self) -> bool:
        return bool(self._cancel_check and self._cancel_check())

    def check_cancelled(self) -> None:
        """Raise CancelledByUser if the run was cancelled; long loops call this between steps."""
        if self.is_cancelled():
            raise CancelledByUser(f"run {self.run_id} was cancelled")

    def finish(self, *, success: bool) -> None:
        """Commit the warehouse transaction on a real success; roll back otherwise."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if success and not self.dry_run:
                conn.commit()
            else:
                conn.rollback()
        finally:
            conn.close()
