"""The alerts page's handlers, called the way any websocket client could call them."""

from __future__ import annotations

import pytest
import reflex as rx
from reflex.istate.data import RouterData

from etl_orchestrator.alerts import outbox, queries
from etl_orchestrator.alerts.message import NO_WORKERS, RUN_FAILED
from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Setting
from etl_orchestrator.services.settings import ALERTS_VISIBLE
from etl_orchestrator.ui.pages.alerts import AlertsState
from etl_orchestrator.web import sessions
from tests.web.conftest import MakeUser


async def alerts_as(username: str | None) -> AlertsState:
    cookie = ""
    if username is not None:
        with session_scope() as session:
            cookie = f"{sessions.COOKIE_NAME}={sessions.create_session(session, username=username)}"
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg] # what Reflex itself passes
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": cookie}, "pathname": "/alerts"}
    )
    state = await root.get_state(AlertsState)
    assert isinstance(state, AlertsState)
    return state


def seed(count: int) -> None:
    with session_scope() as session:
        for n in range(count):
            outbox.record(
                session,
                kind=RUN_FAILED if n % 2 else NO_WORKERS,
                dedup_key=f"k{n}",
                message=f"alert {n}",
                dests=["slack"],
                run_id=n if n % 2 else None,
            )


async def test_older_and_newer_walk_keyset_pages_and_come_back(
    make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("viewer")
    seed(5)
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    state = await alerts_as("viewer")
    state._fetch(0)
    pages = [[row.alert_id for row in state.rows]]
    state.older()
    pages.append([row.alert_id for row in state.rows])
    state.older()
    pages.append([row.alert_id for row in state.rows])
    assert pages == [[5, 4], [3, 2], [1]]
    assert state.older_than == 0
    state.newer()
    assert [row.alert_id for row in state.rows] == [3, 2]
    state.newer()
    assert [row.alert_id for row in state.rows] == [5, 4]
    assert state.cursor == 0


async def test_with_alerts_visible_off_only_systemic_alerts_are_listed(make_user: MakeUser) -> None:
    make_user("viewer")
    seed(4)
    with session_scope() as session:
        session.add(Setting(key=ALERTS_VISIBLE, value=False))
    state = await alerts_as("viewer")
    state._fetch(0)
    assert state.failures_hidden
    assert {row.kind for row in state.rows} == {NO_WORKERS}


async def test_a_client_without_a_session_is_sent_to_sign_in_and_sees_nothing() -> None:
    seed(2)
    state = await alerts_as(None)
    assert state.older() is not None
    assert state.newest() is not None
    assert state.rows == []
