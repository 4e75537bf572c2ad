"""The graph's state handler (it links the client to the live statuses), called the way a
forged websocket event would call it."""

from __future__ import annotations

import pytest
import reflex as rx
from reflex.istate.data import RouterData

from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.registry import load_jobs
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.timeutil import utcnow
from etl_orchestrator.ui.components import dag_view
from etl_orchestrator.ui.components.dag_view import DagState
from etl_orchestrator.ui.state import DagFeed
from etl_orchestrator.web import sessions
from etl_orchestrator.web.dag_views import MAX_JOB_ID
from tests.web.conftest import MakeUser


@pytest.fixture(autouse=True)
def demo() -> None:
    with session_scope() as session:
        sync_jobs(session, load_jobs(["etl_orchestrator.examples.pipeline"]), now=utcnow())


async def graph_as(username: str | None) -> DagState:
    """The graph's state in a fresh client whose websocket carried this user's session cookie."""
    cookie = ""
    if username is not None:
        with session_scope() as session:
            cookie = f"{sessions.COOKIE_NAME}={sessions.create_session(session, username=username)}"
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg] # what Reflex itself passes
    root.router = RouterData.from_router_data({"headers": {"cookie": cookie}, "pathname": "/dag"})
    state = await root.get_state(DagState)
    assert isinstance(state, DagState)
    return state


@pytest.fixture
def joined(monkeypatch: pytest.MonkeyPatch) -> list[rx.State]:
    """The states that joined the shared statuses (linking needs a running app's state manager;
    the browser tests link for real)."""
    calls: list[rx.State] = []

    async def join(state: rx.State) -> None:
        calls.append(state)

    monkeypatch.setattr(dag_view, "join_dag", join)
    return calls


async def test_without_a_session_nothing_is_joined(joined: list[rx.State]):
    state = await graph_as(None)
    assert await state.load("fct_sales", False) is not None  # the redirect to sign in
    assert (state.job_id, joined) == ("", [])


async def test_forged_arguments_are_coerced_and_the_statuses_joined(
    make_user: MakeUser, joined: list[rx.State]
):
    make_user("viewer")
    state = await graph_as("viewer")
    await state.load("x" * 10_000, 0)  # type: ignore[arg-type] # what a forged event may send
    assert len(state.job_id) == MAX_JOB_ID
    assert state.whole is False
    assert joined == [state]


def test_a_client_can_change_nothing_in_the_shared_statuses():
    assert set(DagFeed.event_handlers) == {"setvar"}
    assert not [name for name in ("statuses", "blocked") if hasattr(DagFeed, f"set_{name}")]
