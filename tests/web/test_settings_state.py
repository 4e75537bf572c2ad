"""The settings page's handlers, called the way a forged websocket event would call them."""

from __future__ import annotations

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlalchemy import text
from sqlmodel import col, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import AuditEntry, SettingHistory
from etl_orchestrator.services import settings
from etl_orchestrator.ui.pages.settings import SettingsPageState
from etl_orchestrator.web import sessions
from tests.web.conftest import MakeUser


async def settings_as(username: str | None) -> SettingsPageState:
    """The page's state in a fresh client whose websocket carried this user's session cookie."""
    cookie = ""
    if username is not None:
        with session_scope() as session:
            cookie = f"{sessions.COOKIE_NAME}={sessions.create_session(session, username=username)}"
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg] # what Reflex itself passes
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": cookie}, "pathname": "/settings"}
    )
    state = await root.get_state(SettingsPageState)
    assert isinstance(state, SettingsPageState)
    state._read()
    return state


def audit_rows() -> list[AuditEntry]:
    with session_scope() as session:
        query = select(AuditEntry).where(col(AuditEntry.action) == "settings.update")
        return list(session.exec(query.order_by(col(AuditEntry.audit_id))))


def history() -> list[SettingHistory]:
    with session_scope() as session:
        return list(session.exec(select(SettingHistory)))


def cap() -> int:
    with session_scope() as session:
        return settings.parallel_jobs(session)


async def test_an_operators_forged_confirmation_is_refused_and_audited(
    make_user: MakeUser,
) -> None:
    make_user("operator", "olly")
    state = await settings_as("olly")
    # The operator has no form; a forged client sends both steps itself.
    state.review_cap({"parallel_jobs": "1", "reason": "forged"})
    assert state.confirming
    state.confirm_cap()
    assert state.notice.startswith("Refused: settings.update needs the admin role")
    assert not state.notice_ok
    assert cap() == 4
    assert history() == []
    [row] = audit_rows()
    assert (row.actor, row.role, row.outcome, row.target, row.reason) == (
        "olly",
        "operator",
        "refused",
        "parallel_jobs",
        "forged",
    )


async def test_an_admin_change_writes_history_and_audit_then_shows_the_applied_time(
    make_user: MakeUser,
) -> None:
    make_user("admin", "ann")
    state = await settings_as("ann")
    state.review_cap({"parallel_jobs": "2", "reason": "  upstream is slow  "})
    assert (state.confirming, state.pending_cap) == (True, 2)
    assert cap() == 4  # nothing changes before the confirmation
    state.confirm_cap()
    assert state.notice_ok, state.notice
    assert cap() == 2
    [change] = history()
    assert (change.old_value, change.new_value, change.changed_by, change.reason) == (
        4,
        2,
        "ann",
        "upstream is slow",
    )
    [row] = audit_rows()
    assert (row.actor, row.role, row.outcome, row.params) == (
        "ann",
        "admin",
        "ok",
        {"old": 4, "new": 2},
    )
    # One transaction wrote the setting, its history row and its audit row (PostgreSQL's xmin).
    with session_scope() as session:
        writers = session.execute(
            text(
                "SELECT (SELECT xmin::text FROM dw_etl_settings WHERE key = 'parallel_jobs'),"
                " (SELECT xmin::text FROM dw_etl_settings_history),"
                " (SELECT xmin::text FROM dw_etl_audit WHERE action = 'settings.update')"
            )
        ).one()
    assert len(set(writers)) == 1, writers
    assert state.view.parallel_applied_at == ""
    with session_scope() as session:
        settings.mark_applied(session, settings.PARALLEL_JOBS)
    state._last_refresh = 0.0
    state.refresh()
    assert state.view.parallel_applied_at.endswith("Z")
    assert [h.reason for h in state.history] == ["upstream is slow"]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"parallel_jobs": "0", "reason": "r"}, "from 1 to 256"),
        ({"parallel_jobs": "abc", "reason": "r"}, "from 1 to 256"),
        ({"parallel_jobs": "3", "reason": " "}, "reason is required"),
        ({"parallel_jobs": "4", "reason": "r"}, "already 4"),
    ],
)
async def test_bad_input_is_explained_and_asks_for_no_confirmation(
    make_user: MakeUser, form: dict[str, str], message: str
) -> None:
    make_user("admin", "ann")
    state = await settings_as("ann")
    state.review_cap(form)
    assert message in state.notice
    assert not state.confirming
    state.confirm_cap()  # a confirmation without a reviewed change does nothing
    assert cap() == 4
    assert audit_rows() == []


async def test_alert_visibility_is_admin_only(make_user: MakeUser) -> None:
    make_user("operator", "olly")
    make_user("admin", "ann")
    forged = await settings_as("olly")
    forged.save_alerts({"alerts_visible": "off", "reason": "forged"})
    assert "needs the admin role" in forged.notice
    admin = await settings_as("ann")
    admin.save_alerts({"alerts_visible": "off", "reason": "noisy during migration"})
    assert admin.notice_ok
    assert not admin.view.alerts_visible
    assert [(r.actor, r.outcome, r.target) for r in audit_rows()] == [
        ("olly", "refused", "alerts_visible"),
        ("ann", "ok", "alerts_visible"),
    ]
