"""Tables for runs and what happens in them: attempts, timeline events and log lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Text, text
from sqlmodel import Field, SQLModel

from etl_orchestrator.models._types import BigId, json_field, ts_field


class Run(SQLModel, table=True):
    __tablename__ = "dw_etl_runs"
    __table_args__ = (
        Index("ix_dw_etl_runs_job_history", "job_id", "run_id"),
        Index("ix_dw_etl_runs_status", "status", "priority", "run_id"),
        Index("ix_dw_etl_runs_batch", "batch_id", "job_id"),
        Index("ix_dw_etl_runs_started", "started_at", "run_id"),
        # The overview's 24 h counts by status (every open page's poll): an index-only range.
        Index("ix_dw_etl_runs_queued", "queued_at", "status"),
        # A job's runs that had attempts in the last 24 h (the jobs table's transient rate).
        Index("ix_dw_etl_runs_job_ended", "job_id", "ended_at"),
        # The newest real run per upstream job and status, for dependencies outside a batch.
        Index("ix_dw_etl_runs_job_status_tick", "job_id", "status", "scheduled_for"),
        # A cron tick exists once, however many schedulers or restarts see it.
        Index(
            "uq_dw_etl_runs_tick",
            "job_id",
            "scheduled_for",
            unique=True,
            postgresql_where=text("trigger = 'schedule'"),
            sqlite_where=text("trigger = 'schedule'"),
        ),
    )

    run_id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    job_id: str = Field(foreign_key="dw_etl_jobs.job_id", max_length=128)
    batch_id: str = Field(max_length=36)
    trigger: str = Field(default="manual", max_length=16)
    scheduled_for: datetime | None = ts_field()
    status: str = Field(default="queued", max_length=32)
    status_detail: str = ""
    dry_run: bool = False
    params: dict[str, Any] = json_field()
    priority: int = 0
    concurrency_override: int | None = None
    requested_by: str = Field(default="system", max_length=128)
    reason: str = ""
    retry_of: int | None = Field(default=None, sa_type=BigId)
    attempts: int = 0
    max_attempts: int = 3
    attempt_token: str | None = Field(default=None, max_length=64)
    queued_at: datetime = ts_field(default_now=True)
    dispatched_at: datetime | None = ts_field()
    started_at: datetime | None = ts_field()
    ended_at: datetime | None = ts_field()
    duration_s: float | None = None
    records_read: int | None = Field(default=None, sa_type=BigId)
    records_written: int | None = Field(default=None, sa_type=BigId)
    affected_tables: list[str] = json_field(default_factory=list)
    checksum: str | None = Field(default=None, max_length=128)
    error_class: str | None = Field(default=None, max_length=16)
    error_excerpt: str | None = None
    next_attempt_at: datetime | None = ts_field()
    heartbeat_at: datetime | None = ts_field()
    worker: str | None = Field(default=None, max_length=256)


class RunAttempt(SQLModel, table=True):
    __tablename__ = "dw_etl_run_attempts"

    run_id: int = Field(
        sa_column=Column(
            BigId, ForeignKey("dw_etl_runs.run_id", ondelete="CASCADE"), primary_key=True
        )
    )
    attempt: int = Field(primary_key=True)
    token: str = Field(max_length=64)
    worker: str | None = Field(default=None, max_length=256)
    dispatched_at: datetime | None = ts_field()
    started_at: datetime | None = ts_field()
    ended_at: datetime | None = ts_field()
    duration_s: float | None = None
    #: succeeded | failed | timeout | crashed | cancelled (None while running)
    outcome: str | None = Field(default=None, max_length=16)
    error_class: str | None = Field(default=None, max_length=16)
    error_type: str | None = Field(default=None, max_length=256)
    error_message: str | None = None
    traceback: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    records_read: int | None = Field(default=None, sa_type=BigId)
    records_written: int | None = Field(default=None, sa_type=BigId)


class RunEvent(SQLModel, table=True):
    __tablename__ = "dw_etl_run_events"
    __table_args__ = (Index("ix_dw_etl_run_events_run", "run_id", "event_id"),)

    event_id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    run_id: int = Field(
        sa_column=Column(
            BigId, ForeignKey("dw_etl_runs.run_id", ondelete="CASCADE"), nullable=False
        )
    )
    ts: datetime = ts_field(default_now=True, index=True)
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str = Field(max_length=32)
    attempt: int = 0
    detail: str = ""
    actor: str = Field(default="system", max_length=128)


class RunLog(SQLModel, table=True):
    __tablename__ = "dw_etl_run_logs"
    __table_args__ = (Index("ix_dw_etl_run_logs_ts", "ts"),)

    run_id: int = Field(
        sa_column=Column(
            BigId, ForeignKey("dw_etl_runs.run_id", ondelete="CASCADE"), primary_key=True
        )
    )
    attempt: int = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    ts: datetime = ts_field(default_now=True)
    level: str = Field(default="INFO", max_length=16)
    logger: str = Field(default="", max_length=256)
    message: str = Field(sa_column=Column(Text, nullable=False))
