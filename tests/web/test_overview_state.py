"""The Overview's "Run now" handler, called the way a forged websocket event would call it."""

from __future__ import annotations

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import col, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import AuditEntry, Job, Run, User
from etl_orchestrator.ui.pages.home import OverviewState
from etl_orchestrator.web import sessions
from tests.web.conftest import MakeUser


@pytest.fixture(autouse=True)
def job() -> str:
    with session_scope() as session:
        session.add(Job(job_id="load_sales", name="load_sales"))
    return "load_sales"


async def overview_as(username: str | None) -> OverviewState:
    """The page's state in a fresh client whose websocket carried this user's session cookie."""
    cookie = ""
    if username is not None:
        with session_scope() as session:
            cookie = f"{sessions.COOKIE_NAME}={sessions.create_session(session, username=username)}"
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg] # what Reflex itself passes
    root.router = RouterData.from_router_data({"headers": {"cookie": cookie}, "pathname": "/"})
    state = await root.get_state(OverviewState)
    assert isinstance(state, OverviewState)
    return state


def runs() -> list[Run]:
    with session_scope() as session:
        return list(session.exec(select(Run)))


def audit() -> list[AuditEntry]:
    with session_scope() as session:
        query = select(AuditEntry).where(col(AuditEntry.action) == "run.trigger")
        return list(session.exec(query))


async def test_a_viewers_forged_run_now_is_refused_changes_nothing_and_is_audited(
    make_user: MakeUser,
):
    make_user("viewer")
    state = await overview_as("viewer")
    state.run_now({"job_id": "load_sales", "reason": "I want to"})
    assert state.notice.startswith("Refused: run.trigger needs the operator role")
    assert not state.notice_ok
    assert runs() == []
    [row] = audit()
    assert (row.actor, row.role, row.outcome, row.target) == (
        "viewer",
        "viewer",
        "refused",
        "load_sales",
    )
    assert row.reason == "I want to"


@pytest.mark.parametrize("role", ["operator", "admin"])
async def test_an_operator_or_admin_runs_a_job_now_with_the_reason_audited(
    make_user: MakeUser, role: str
):
    make_user(role)
    state = await overview_as(role)
    state.run_now({"job_id": "load_sales", "reason": "  late upstream file  "})
    [run] = runs()
    assert (run.job_id, run.requested_by, run.reason, run.trigger) == (
        "load_sales",
        role,
        "late upstream file",
        "manual",
    )
    assert state.notice_ok
    assert state.new_run_id == run.run_id
    [row] = audit()
    assert (row.actor, row.role, row.outcome, row.reason) == (
        role,
        role,
        "ok",
        "late upstream file",
    )


async def test_a_demotion_takes_effect_on_the_next_click(make_user: MakeUser):
    make_user("operator", username="olga")
    state = await overview_as("olga")
    with session_scope() as session:
        user = session.get(User, "olga")
        assert user is not None
        user.role = "viewer"
    state.run_now({"job_id": "load_sales", "reason": "still allowed?"})
    assert state.notice.startswith("Refused")
    assert runs() == []
    assert [row.outcome for row in audit()] == ["refused"]


async def test_without_a_reason_nothing_runs_and_the_user_is_told_why(make_user: MakeUser):
    make_user("operator")
    state = await overview_as("operator")
    state.run_now({"job_id": "load_sales", "reason": "   "})
    assert "reason is required" in state.notice
    assert runs() == []
    assert audit() == []


async def test_an_unknown_job_is_explained(make_user: MakeUser):
    make_user("operator")
    state = await overview_as("operator")
    state.run_now({"job_id": "load_sale", "reason": "typo"})
    assert "unknown job 'load_sale'" in state.notice
    assert "load_sales" in state.notice  # the suggestion
    assert runs() == []


async def test_without_a_session_the_handler_sends_the_client_to_sign_in(make_user: MakeUser):
    make_user("operator")
    state = await overview_as(None)
    result = state.run_now({"job_id": "load_sales", "reason": "no cookie"})
    assert result is not None
    assert state.notice == ""
    assert runs() == []
    assert audit() == []


async def test_run_with_options_asks_for_a_job_first_then_opens_the_modal_on_it(
    make_user: MakeUser,
):
    make_user("operator")
    state = await overview_as("operator")
    assert state.with_options() is None
    assert state.notice == "Choose a job first, then open the run options."
    state.pick("load_sales")
    opened = state.with_options()
    assert opened is not None
    assert opened.handler.fn.__qualname__ == "RunModalState.show"
    assert [str(value) for _, value in opened.args] == ['"load_sales"', "false", "0"]
    assert state.notice == ""
