"""The audit service: one row per action, in the action's own transaction."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import col, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import AuditEntry
from etl_orchestrator.services.audit import record, shell_actor


def rows() -> list[AuditEntry]:
    with session_scope() as session:
        return list(session.exec(select(AuditEntry).order_by(col(AuditEntry.audit_id))).all())


def test_record_writes_every_field_and_keeps_params_as_json(any_db):
    with session_scope() as session:
        entry = record(
            session,
            actor="alice",
            role="operator",
            action="runs.trigger",
            target="fct_sales",
            params={"day": date(2024, 3, 1), "amount": Decimal("1.50"), "full": True},
            reason="backfill after the outage",
            outcome="ok",
            detail="run 12",
        )
        assert entry.audit_id is not None
    [saved] = rows()
    assert (saved.actor, saved.role, saved.action, saved.target) == (
        "alice",
        "operator",
        "runs.trigger",
        "fct_sales",
    )
    assert saved.params == {"day": "2024-03-01", "amount": "1.50", "full": True}
    assert (saved.reason, saved.outcome, saved.detail) == (
        "backfill after the outage",
        "ok",
        "run 12",
    )
    assert saved.ts.tzinfo is not None


def test_the_row_is_rolled_back_with_the_action_it_records(any_db):
    def cancel_that_fails() -> None:
        with session_scope() as session:
            record(session, actor="alice", action="runs.cancel")
            raise RuntimeError("the action failed")

    with pytest.raises(RuntimeError):
        cancel_that_fails()
    assert rows() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"actor": " ", "action": "x"}, "needs an actor"),
        ({"actor": "a", "action": ""}, "needs an action"),
        ({"actor": "a", "action": "x", "outcome": "maybe"}, "not one of ok, refused, error"),
    ],
)
def test_incomplete_rows_are_refused(kwargs, message):
    with session_scope() as session, pytest.raises(ValueError, match=message):
        record(session, **kwargs)


def test_shell_actor_names_the_os_user(monkeypatch):
    monkeypatch.setenv("LOGNAME", "deploy-bot")
    assert shell_actor() == "cli:deploy-bot"
