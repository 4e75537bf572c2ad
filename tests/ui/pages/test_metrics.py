"""The metrics overview page's state: the session check, the job list, the job chooser."""

from __future__ import annotations

import reflex as rx
from reflex.istate.data import RouterData

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job
from etl_orchestrator.ui.pages.metrics import MetricsPageState
from etl_orchestrator.web import sessions
from tests.web.conftest import MakeUser


async def page_as(username: str | None) -> MetricsPageState:
    cookie = ""
    if username is not None:
        with session_scope() as session:
            cookie = f"{sessions.COOKIE_NAME}={sessions.create_session(session, username=username)}"
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg] # what Reflex itself passes
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": cookie}, "pathname": "/metrics-overview"}
    )
    state = await root.get_state(MetricsPageState)
    assert isinstance(state, MetricsPageState)
    return state


async def test_without_a_session_the_page_sends_to_sign_in():
    state = await page_as(None)
    follow_up = await state.load()
    assert "/signin" in str(follow_up)
    assert not state.loading


async def test_a_signed_in_user_gets_the_jobs_and_a_lazy_read(make_user: MakeUser):
    make_user("viewer")
    with session_scope() as session:
        session.add(Job(job_id="load_sales", name="load_sales"))
    state = await page_as("viewer")
    follow_up = await state.load()
    assert state.jobs == ["load_sales"]
    assert state.loading
    assert "fetch" in str(follow_up)


async def test_choosing_an_unknown_job_loads_nothing(make_user: MakeUser):
    make_user("viewer")
    state = await page_as("viewer")
    await state.load()
    assert state.choose_job({"job_id": "not_a_job"}) is None
