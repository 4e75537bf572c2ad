"""Operational tables: alerts sent and the registry of live workers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from etl_orchestrator.models._types import BigId, json_field, ts_field


class Alert(SQLModel, table=True):
    __tablename__ = "dw_etl_alerts"

    alert_id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    created_at: datetime = ts_field(default_now=True, index=True)
    kind: str = Field(max_length=32)
    severity: str = Field(default="error", max_length=16)
    run_id: int | None = Field(default=None, sa_type=BigId, index=True)
    job_id: str | None = Field(default=None, max_length=128)
    #: A key that makes each alert be sent once, however many schedulers run.
    dedup_key: str = Field(max_length=256, unique=True)
    message: str = ""
    channels: dict[str, Any] = json_field()
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    sent_at: datetime | None = ts_field()
    last_error: str | None = None


class WorkerRecord(SQLModel, table=True):
    __tablename__ = "dw_etl_workers"

    worker_id: str = Field(primary_key=True, max_length=256)
    host: str = Field(max_length=256)
    pid: int
    started_at: datetime = ts_field(default_now=True)
    last_heartbeat_at: datetime = ts_field(default_now=True)
    running: int = 0
    stopped_at: datetime | None = ts_field()
