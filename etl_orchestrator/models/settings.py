"""Tables for live settings and their history (dw_etl_settings, dw_etl_settings_history)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from etl_orchestrator.models._types import BigId, json_field, ts_field


class Setting(SQLModel, table=True):
    __tablename__ = "dw_etl_settings"

    key: str = Field(primary_key=True, max_length=64)
    value: Any = json_field(default_factory=lambda: None)
    updated_at: datetime = ts_field(default_now=True)
    updated_by: str = Field(default="system", max_length=128)
    #: When the dispatcher started using this value (the banner shows what it uses).
    applied_at: datetime | None = ts_field()


class SettingHistory(SQLModel, table=True):
    __tablename__ = "dw_etl_settings_history"

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    key: str = Field(max_length=64, index=True)
    old_value: Any = json_field(default_factory=lambda: None)
    new_value: Any = json_field(default_factory=lambda: None)
    changed_at: datetime = ts_field(default_now=True)
    changed_by: str = Field(default="system", max_length=128)
    reason: str = ""
