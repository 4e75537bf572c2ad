"""The audit page's handlers: readers only (role re-read), filters, keyset pages back and forth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import reflex as rx
from reflex.istate.data import RouterData

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import AuditEntry, User
from etl_orchestrator.services import audit_queries
from etl_orchestrator.ui.pages.audit import AuditPageState
from etl_orchestrator.web import sessions
from tests.web.conftest import MakeUser

T0 = datetime(2026, 5, 1, tzinfo=UTC)


async def audit_as(username: str) -> AuditPageState:
    with session_scope() as session:
        cookie = f"{sessions.COOKIE_NAME}={sessions.create_session(session, username=username)}"
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg] # what Reflex itself passes
    root.router = RouterData.from_router_data({"headers": {"cookie": cookie}, "pathname": "/audit"})
    state = await root.get_state(AuditPageState)
    assert isinstance(state, AuditPageState)
    return state


def entries(count: int, action: str = "run.cancel") -> list[int]:
    with session_scope() as session:
        made = [
            AuditEntry(actor="ann", action=action, ts=T0 + timedelta(minutes=i))
            for i in range(count)
        ]
        session.add_all(made)
        session.flush()
        return [entry.audit_id or 0 for entry in made]


async def test_an_operator_pages_through_filtered_entries_older_then_newer(
    make_user: MakeUser,
) -> None:
    make_user("operator", "olly")
    made = entries(audit_queries.PAGE_SIZE + 5)
    entries(3, action="settings.update")
    state = await audit_as("olly")
    state.apply({"action": "run.cancel"})
    assert state.allowed
    assert [r.audit_id for r in state.rows] == made[::-1][: audit_queries.PAGE_SIZE]
    assert state.has_older
    assert state.export_query == "action=run.cancel"
    state.older()
    assert [r.audit_id for r in state.rows] == made[::-1][audit_queries.PAGE_SIZE :]
    assert (state.page_number, state.has_older) == (2, False)
    state.newer()
    assert state.page_number == 1
    assert state.rows[0].audit_id == made[-1]


async def test_a_demoted_user_reads_nothing_more(make_user: MakeUser) -> None:
    make_user("operator", "olly")
    entries(2)
    state = await audit_as("olly")
    state.apply({})
    assert state.rows
    with session_scope() as session:
        user = session.get(User, "olly")
        assert user is not None
        user.role = "viewer"
    state.apply({})
    assert (state.allowed, state.rows) == (False, [])
    assert "needs the operator role" in state.error


async def test_a_bad_filter_keeps_the_page_and_says_why(make_user: MakeUser) -> None:
    make_user("admin", "ann")
    entries(2)
    state = await audit_as("ann")
    state.apply({})
    state.apply({"until": "tomorrow-ish"})
    assert state.error.startswith("until must be a UTC date")
    assert len(state.rows) == 3  # the two, and adding the user
