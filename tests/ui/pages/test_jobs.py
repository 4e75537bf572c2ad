"""The jobs page's handlers, called the way a (possibly forged) websocket event calls them."""

from __future__ import annotations

from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import col, select

from etl_orchestrator import config, db
from etl_orchestrator.db import session_scope
from etl_orchestrator.models import AuditEntry, Job, Run
from etl_orchestrator.services import job_queries
from etl_orchestrator.ui.pages.jobs import JobsState
from etl_orchestrator.ui.state import JobsFeed
from etl_orchestrator.web import sessions
from tests.web import conftest as web_fixtures
from tests.web.conftest import MakeUser

make_user = web_fixtures.make_user


@pytest.fixture(autouse=True)
def jobs() -> list[str]:
    """Seven jobs with ties in priority and name."""
    ids = [f"job_{i}" for i in range(7)]
    with session_scope() as session:
        for index, job_id in enumerate(ids):
            session.add(
                Job(
                    job_id=job_id,
                    name=f"Load {index % 2}",
                    priority=index % 3,
                    enabled=index != 6,
                    tags=["daily"] if index % 2 else [],
                    domain="sales" if index < 4 else "finance",
                )
            )
    return ids


async def jobs_as(username: str | None, query: str = "") -> JobsState:
    """The page's state in a fresh client whose websocket carried this user's session cookie.

    Linking to the shared live feeds needs the running app's state manager: these tests call
    `_open`, what the page load does once linked.
    """
    cookie = ""
    if username is not None:
        with session_scope() as session:
            cookie = f"{sessions.COOKIE_NAME}={sessions.create_session(session, username=username)}"
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg] # what Reflex itself passes
    path = "/jobs" + (f"?{query}" if query else "")
    root.router = RouterData.from_router_data(
        {
            "headers": {"cookie": cookie, "origin": "http://testserver"},
            "pathname": "/jobs",
            "asPath": path,
        }
    )
    state = await root.get_state(JobsState)
    assert isinstance(state, JobsState)
    return state


def role_of(state: JobsState) -> str:
    with session_scope() as session:
        who = sessions.authenticate(
            session, sessions.token_from_cookies(state.router.headers.cookie)
        )
    assert who is not None
    return who.role


def audit(outcome: str) -> list[AuditEntry]:
    with session_scope() as session:
        query = select(AuditEntry).where(col(AuditEntry.outcome) == outcome)
        return list(session.exec(query))


def all_runs() -> list[Run]:
    with session_scope() as session:
        return list(session.exec(select(Run)))


def direct(**options: Any) -> list[str]:
    with session_scope() as session:
        page = job_queries.list_jobs(session, limit=50, **options)
    return [row.job_id for row in page.jobs]


async def test_the_url_says_what_the_table_shows(make_user: MakeUser) -> None:
    make_user("viewer")
    state = await jobs_as("viewer", "sort=priority&dir=desc&domain=sales&q=load")
    await state._open(role_of(state), [])
    assert (state.sort, state.descending, state.domain_filter, state.search) == (
        "priority",
        True,
        "sales",
        "load",
    )
    assert state.filtered
    assert [row.job_id for row in state.rows] == direct(
        sort="priority", descending=True, domain="sales", search="load"
    )
    assert state.db_error == ""
    assert state.domains == ["finance", "sales"]
    assert state.tags == ["daily"]


async def test_a_forged_url_is_shown_as_the_default_view_with_a_note(make_user: MakeUser) -> None:
    make_user("viewer")
    state = await jobs_as("viewer", "sort=drop_table&after=garbage")
    await state._open(role_of(state), [])
    assert state.notice == (
        "Unknown sort 'drop_table' ignored; the page link is invalid or out of date, "
        "so the first page is shown."
    )
    assert [row.job_id for row in state.rows] == direct()


async def test_sorting_filtering_and_paging_go_through_the_url(make_user: MakeUser) -> None:
    make_user("viewer")
    state = await jobs_as("viewer", "sort=name")
    await state._open(role_of(state), [])
    spec = await state.sort_by("name")
    assert spec is not None
    assert "/jobs?sort=name&dir=desc" in str(spec.args)
    spec = await state.filter_enabled("no")
    assert "enabled=no" in str(spec.args)
    spec = await state.clear_filters()
    assert "sort=name" in str(spec.args)
    assert await state.next_page() is None  # one page only


async def test_a_viewers_forged_bulk_run_is_refused_and_audited(make_user: MakeUser) -> None:
    make_user("viewer")
    state = await jobs_as("viewer")
    await state._open(role_of(state), [])
    state.selected = ["job_0", "job_1"]
    state.reason = "forged"
    await state.bulk("run")
    assert [r["outcome"] for r in state.results] == ["refused", "refused"]
    assert all_runs() == []
    [row] = audit("refused")
    assert (row.actor, row.role, row.action) == ("viewer", "viewer", "run.trigger")


async def test_an_operators_forged_bulk_disable_is_refused(make_user: MakeUser) -> None:
    make_user("operator")
    state = await jobs_as("operator")
    await state._open(role_of(state), [])
    assert not state.is_admin
    state.selected = ["job_0"]
    state.reason = "forged"
    await state.bulk("disable")
    assert [r["outcome"] for r in state.results] == ["refused"]
    with session_scope() as session:
        job = session.get(Job, "job_0")
        assert job is not None
        assert job.enabled
    [row] = audit("refused")
    assert (row.actor, row.action) == ("operator", "job.disable")


async def test_an_operator_bulk_dry_runs_three_jobs(make_user: MakeUser) -> None:
    make_user("operator")
    state = await jobs_as("operator")
    await state._open(role_of(state), [])
    state.toggle_all(True)
    assert state.all_selected
    state.toggle_select("job_3", False)
    state.toggle_select("not_on_page", True)  # only rows of the page can be selected
    state.selected = state.selected[:3]
    state.set_reason("check")
    await state.bulk("dry_run")
    assert [(r["job_id"], r["outcome"]) for r in state.results] == [
        ("job_0", "ok"),
        ("job_1", "ok"),
        ("job_2", "ok"),
    ]
    made = all_runs()
    assert sorted(r.job_id for r in made) == ["job_0", "job_1", "job_2"]
    assert all(r.dry_run and r.reason == "check" for r in made)
    assert state.selected == []
    assert state.notice_ok


async def test_an_admin_disables_a_row_with_a_reason(make_user: MakeUser) -> None:
    make_user("admin")
    state = await jobs_as("admin")
    await state._open(role_of(state), [])
    assert state.is_admin
    state.ask_toggle("job_2", False)
    assert state.toggle_open
    await state.confirm_toggle({"reason": "  "})
    assert "reason" in state.notice
    state.ask_toggle("job_2", False)
    await state.confirm_toggle({"reason": "maintenance"})
    assert state.results == [{"job_id": "job_2", "outcome": "ok", "message": "disabled"}]
    with session_scope() as session:
        job = session.get(Job, "job_2")
        assert job is not None
        assert not job.enabled
    row = next(r for r in state.rows if r.job_id == "job_2")
    assert not row.enabled


async def test_without_a_session_load_and_bulk_send_the_client_to_sign_in(
    make_user: MakeUser,
) -> None:
    state = await jobs_as(None)
    assert await state.load() is not None
    state.selected = ["job_0"]
    assert await state.bulk("run") is not None
    assert all_runs() == []


async def test_an_unreachable_database_is_said_and_retry_recovers(
    make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("viewer")
    state = await jobs_as("viewer")
    good = config.get_settings().database_url

    def database(url: str) -> None:
        monkeypatch.setenv("DATABASE_URL", url)
        config.get_settings.cache_clear()
        db.dispose_engines()

    database("postgresql://postgres@127.0.0.1:1/nowhere")
    assert await state.load() is None  # down before the session could even be checked
    assert "database is not answering" in state.db_error
    assert state.rows == []
    await state._open("viewer", [])  # down while the table is read
    assert "database is not answering" in state.db_error
    database(good)
    state._linked = True  # what the page load had done (see jobs_as)
    await state.retry()
    assert state.db_error == ""
    assert len(state.rows) == 7


async def test_a_scheduler_problem_of_the_health_check_is_shown(make_user: MakeUser) -> None:
    make_user("viewer")
    state = await jobs_as("viewer")
    await state._open("viewer", ["No live workers: start one", "No scheduler heartbeat: start"])
    assert state.scheduler_note == "No scheduler heartbeat: start"
    await state._open("viewer", ["No live workers: start one"])
    assert state.scheduler_note == ""


def test_the_jobs_feed_takes_no_orders_from_clients() -> None:
    assert set(JobsFeed.event_handlers) == {"setvar"}
    assert not hasattr(JobsFeed, "set_updates")


def test_the_jobs_feed_keeps_the_newest_updates_only() -> None:
    feed = JobsFeed(_reflex_internal_init=True)  # type: ignore[call-arg]
    feed._apply({f"j{i}": {"status": "succeeded", "at": "1"} for i in range(400)})
    assert len(feed.updates) == 300
    assert "j399" in feed.updates
    assert "j0" not in feed.updates
    feed._apply({"j100": {"status": "failed", "at": "2"}})
    assert list(feed.updates)[-1] == "j100"


async def test_next_and_previous_pages_carry_their_cursor(make_user: MakeUser) -> None:
    make_user("viewer")
    state = await jobs_as("viewer", "sort=priority&size=3")
    await state._open("viewer", [])
    assert len(state.rows) == 3
    first = [row.job_id for row in state.rows]
    assert await state.prev_page() is None  # the first page has none before it
    cursor = state.next_cursor
    spec = await state.next_page()
    assert spec is not None
    assert f"after={cursor}" in str(spec.args)
    assert "size=3" in str(spec.args)
    second = [row.job_id for row in state.rows]
    assert second == direct(sort="priority", after=cursor)[:3]
    assert await state.prev_page() is not None
    assert [row.job_id for row in state.rows] == first


def test_the_page_builds() -> None:
    from etl_orchestrator.ui.pages.jobs import page

    assert isinstance(page(), rx.Component)
