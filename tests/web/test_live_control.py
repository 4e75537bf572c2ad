"""A page's auto-refresh control: polls are ignored while paused, off, or too frequent."""

from __future__ import annotations

import reflex as rx
from reflex.istate.data import RouterData

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, Run, Setting
from etl_orchestrator.services import settings
from etl_orchestrator.ui.state import LiveControl, LiveFeed, RunFeed
from etl_orchestrator.web import sessions
from tests.web.conftest import MakeUser


async def control_as(username: str) -> LiveControl:
    with session_scope() as session:
        cookie = f"{sessions.COOKIE_NAME}={sessions.create_session(session, username=username)}"
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg] # what Reflex itself passes
    root.router = RouterData.from_router_data({"headers": {"cookie": cookie}, "pathname": "/"})
    state = await root.get_state(LiveControl)
    assert isinstance(state, LiveControl)
    return state


def test_the_poll_interval_is_seeded_from_the_environment_and_then_read_from_the_database():
    with session_scope() as session:
        assert settings.console_poll_s(session) == 5.0
        session.merge(Setting(key=settings.CONSOLE_POLL_S, value=0))
    with session_scope() as session:
        assert settings.console_poll_s(session) == 0.0


async def test_a_poll_refreshes_the_feed_but_not_when_paused_off_or_too_soon(
    make_user: MakeUser,
):
    make_user("viewer")
    control = await control_as("viewer")
    feed = await control.get_state(LiveFeed)
    control._go_live(5.0)
    assert control.poll_ms == 5000

    control.paused = True
    await control.poll()
    assert control._last_poll == 0.0  # paused: nothing read

    control.paused, control.poll_ms = False, 0
    await control.poll()
    assert control._last_poll == 0.0  # polling switched off

    control.poll_ms = 5000
    await control.poll()
    first = control._last_poll
    assert first > 0
    assert [c.status for c in feed.counts][:1] == ["running"]
    await control.poll()
    assert control._last_poll == first  # a second poll within MIN_POLL_S is ignored


async def test_a_poll_refreshes_the_run_a_job_pages_drawer_follows_whatever_the_path(
    make_user: MakeUser,
):
    make_user("viewer")
    with session_scope() as session:
        session.add(Job(job_id="load", name="load"))
        session.flush()
        run = Run(job_id="load", batch_id="b", status="queued")
        session.add(run)
        session.flush()
        run_id = run.run_id
    assert run_id is not None
    control = await control_as("viewer")  # at "/", not /runs/<id>
    control._go_live(5.0)
    control._run_id = run_id  # what join_run leaves for the drawer's run
    await control.poll()
    feed = await control.get_state(RunFeed)
    assert (feed.run.run_id, feed.run.status) == (run_id, "queued")
    control._go_live(5.0)  # a new page load follows no run until it joins one
    assert control._run_id == 0
