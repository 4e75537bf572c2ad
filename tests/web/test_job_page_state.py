"""The run drawer's retry and cancel handlers, called the way a forged websocket event would."""

from __future__ import annotations

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import col, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import AuditEntry, Job, Run
from etl_orchestrator.ui.pages.job_state import JobPageState
from etl_orchestrator.web import job_views, sessions
from tests.web.conftest import MakeUser


@pytest.fixture
def run_in(make_user: MakeUser):
    """A run of job `load` in the given status."""
    with session_scope() as session:
        session.add(Job(job_id="load", name="load"))

    def make(status: str) -> int:
        with session_scope() as session:
            run = Run(job_id="load", batch_id="b1", status=status)
            session.add(run)
            session.flush()
            assert run.run_id is not None
            return run.run_id

    return make


async def drawer_as(username: str | None, run_id: int) -> JobPageState:
    """The page's state in a fresh client whose websocket carried this user's session cookie,
    with the drawer on `run_id` (any client can put any run there)."""
    cookie = ""
    if username is not None:
        with session_scope() as session:
            cookie = f"{sessions.COOKIE_NAME}={sessions.create_session(session, username=username)}"
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg] # what Reflex itself passes
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": cookie}, "pathname": f"/runs/{run_id}"}
    )
    state = await root.get_state(JobPageState)
    assert isinstance(state, JobPageState)
    state.drawer_run = run_id
    return state


def audit(action: str) -> list[AuditEntry]:
    with session_scope() as session:
        return list(session.exec(select(AuditEntry).where(col(AuditEntry.action) == action)))


def status_of(run_id: int) -> str:
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run.status


def run_count() -> int:
    with session_scope() as session:
        return len(list(session.exec(select(Run))))


@pytest.mark.parametrize(("action", "status"), [("retry", "failed"), ("cancel", "running")])
async def test_a_viewers_forged_retry_or_cancel_is_refused_changes_nothing_and_is_audited(
    make_user: MakeUser, run_in, action: str, status: str
):
    make_user("viewer")
    run_id = run_in(status)
    state = await drawer_as("viewer", run_id)
    await getattr(state, action)({"reason": "because"})
    assert state.notice.startswith(f"Refused: run.{action} needs the operator role")
    assert not state.notice_ok
    assert status_of(run_id) == status
    assert run_count() == 1
    [row] = audit(f"run.{action}")
    assert (row.actor, row.role, row.outcome, row.target, row.reason) == (
        "viewer",
        "viewer",
        "refused",
        f"run {run_id}",
        "because",
    )


async def test_an_operator_retries_a_failed_run_as_a_new_run_audited_with_it(
    make_user: MakeUser, run_in
):
    make_user("operator")
    run_id = run_in("failed")
    state = await drawer_as("operator", run_id)
    await state.retry({"reason": "fixed the file"})
    assert state.notice_ok, state.notice
    assert state.notice_run > run_id
    with session_scope() as session:
        new = session.get(Run, state.notice_run)
        assert new is not None
        assert (new.trigger, new.retry_of, new.requested_by) == ("retry", run_id, "operator")
    [row] = audit("run.retry")
    assert (row.actor, row.role, row.outcome) == ("operator", "operator", "ok")


async def test_an_operator_cancels_an_active_run(make_user: MakeUser, run_in):
    make_user("operator")
    run_id = run_in("queued")
    state = await drawer_as("operator", run_id)
    await state.cancel({"reason": "wrong day"})
    assert state.notice == f"Run {run_id} cancelled."
    assert status_of(run_id) == "cancelled"
    [row] = audit("run.cancel")
    assert (row.actor, row.outcome, row.reason) == ("operator", "ok", "wrong day")


async def test_an_action_the_run_does_not_allow_says_why_and_writes_nothing(
    make_user: MakeUser, run_in
):
    make_user("operator")
    run_id = run_in("succeeded")
    state = await drawer_as("operator", run_id)
    await state.cancel({"reason": "too late"})
    assert state.notice.startswith("Nothing was changed: run")
    assert "already finished as succeeded" in state.notice
    assert audit("run.cancel") == []
    await state.retry({"reason": ""})
    assert "a reason is required" in state.notice
    assert run_count() == 1


async def test_without_a_session_the_action_redirects_to_sign_in(run_in):
    run_id = run_in("failed")
    state = await drawer_as(None, run_id)
    assert await state.retry({"reason": "x"}) is not None
    assert run_count() == 1
    assert audit("run.retry") == []


@pytest.mark.parametrize(
    ("tab", "sent"),
    [
        ("overview", []),
        ("dag", ["load"]),
        ("runs", []),
        ("logs", ["follow"]),
        ("metrics", ["load"]),
    ],
)
async def test_showing_a_tab_puts_it_in_the_url_and_loads_its_content(
    make_user: MakeUser, run_in, tab: str, sent: list[str]
):
    make_user("viewer")
    run_id = run_in("running")
    state = await drawer_as("viewer", run_id)
    state.job = job_views.JobOverview(found=True, job_id="load", previous_run_id=run_id)
    events = state.show_tab(tab)
    assert state.tab == tab
    assert [e.handler.fn.__name__ for e in events[1:]] == sent
    assert f"/jobs/load?tab={tab}" in str(events[0])


async def test_an_unknown_tab_is_ignored(make_user: MakeUser, run_in):
    make_user("viewer")
    state = await drawer_as("viewer", run_in("running"))
    state.job = job_views.JobOverview(found=True, job_id="load")
    assert state.show_tab("secrets") is None
    assert state.tab == "overview"
