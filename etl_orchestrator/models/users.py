"""Tables for people and machines that sign in: users, sessions and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from etl_orchestrator.models._types import ts_field


class User(SQLModel, table=True):
    __tablename__ = "dw_etl_users"

    username: str = Field(primary_key=True, max_length=128)
    password_hash: str = Field(max_length=256)
    #: viewer | operator | admin
    role: str = Field(default="viewer", max_length=16)
    active: bool = True
    created_at: datetime = ts_field(default_now=True)


class UserSession(SQLModel, table=True):
    __tablename__ = "dw_etl_sessions"

    session_hash: str = Field(primary_key=True, max_length=128)
    username: str = Field(foreign_key="dw_etl_users.username", index=True, max_length=128)
    created_at: datetime = ts_field(default_now=True)
    expires_at: datetime = ts_field(default_now=True)
    last_seen_at: datetime | None = ts_field()


class ApiToken(SQLModel, table=True):
    __tablename__ = "dw_etl_api_tokens"

    token_hash: str = Field(primary_key=True, max_length=128)
    username: str = Field(foreign_key="dw_etl_users.username", index=True, max_length=128)
    label: str = ""
    created_at: datetime = ts_field(default_now=True)
    expires_at: datetime | None = ts_field()
