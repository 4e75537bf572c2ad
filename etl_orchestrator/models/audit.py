"""The audit table: who did what, when, with which params and why (dw_etl_audit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from etl_orchestrator.models._types import BigId, json_field, ts_field


class AuditEntry(SQLModel, table=True):
    __tablename__ = "dw_etl_audit"
    __table_args__ = (Index("ix_dw_etl_audit_ts", "ts", "audit_id"),)

    audit_id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    ts: datetime = ts_field(default_now=True)
    actor: str = Field(max_length=128)
    role: str = Field(default="", max_length=16)
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=256)
    params: dict[str, Any] = json_field()
    reason: str = ""
    #: ok | refused | error
    outcome: str = Field(default="ok", max_length=16)
    detail: str = ""
