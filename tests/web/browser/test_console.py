"""The built console in Chromium: sign-in (password and trusted proxy), redirects, roles, live
updates (pushed, polled, paused), toasts, the health banner and accessibility."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, Run, RunAttempt, Setting, UserSession
from etl_orchestrator.services import settings
from etl_orchestrator.states import RunStatus
from tests.web.browser.support import (
    LIVE_TIMEOUT_MS,
    Console,
    Engine,
    answers,
    make_run,
    move,
    serious_violations,
    sign_in,
)
from tests.web.conftest import MakeUser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _upgrade_status(console: Console, origin: str) -> str:
    """The status line the server answers a websocket upgrade from `origin` with."""
    host, port = console.base.removeprefix("http://").split(":")
    request = (
        f"GET /_event/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Origin: {origin}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request.encode())
        return sock.recv(1024).decode("latin-1").split("\r\n", 1)[0]


def test_only_the_configured_origin_may_open_the_websocket(console: Console):
    assert _upgrade_status(console, "https://evil.example").endswith("403 Forbidden")
    assert _upgrade_status(console, console.base).endswith("101 Switching Protocols")


def test_liveness_is_public_and_the_health_report_needs_a_session(console: Console):
    assert answers(f"{console.base}/healthz")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{console.base}/api/health", timeout=5)
    assert refused.value.code == 401


def test_a_wrong_password_shows_why_and_starts_no_session(
    page: Page, console: Console, make_user: MakeUser
):
    person = make_user("viewer")
    page.goto(console.base + "/signin")
    page.fill("#username", person.username)
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("Wrong user name or password")
    assert not [c for c in page.context.cookies() if c["name"] == "etl_session"]
    with session_scope() as session:
        assert session.exec(select(UserSession)).all() == []


def test_next_pointing_at_another_site_keeps_the_user_on_the_console(
    page: Page, console: Console, make_user: MakeUser
):
    person = make_user("viewer")
    page.goto(console.base + "/signin?next=https%3A%2F%2Fevil.example%2F")
    page.fill("#username", person.username)
    page.fill("#password", person.password)
    # Even a next forged into the form after the page checked it is refused by the server.
    page.eval_on_selector("input[name=next]", "el => el.value = 'https://evil.example/'")
    page.click("button[type=submit]")
    expect(page).to_have_url(console.base + "/")
    cookie = next(c for c in page.context.cookies() if c["name"] == "etl_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"


def test_a_deep_link_survives_sign_in(page: Page, console: Console, make_user: MakeUser):
    run_id = make_run()
    sign_in(page, console, make_user("viewer"), f"/runs/{run_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Run {run_id}")
    expect(page.locator("#run-summary")).to_contain_text("load_sales")


def test_a_viewer_sees_no_action_controls_and_an_operator_does(
    browser: Browser, console: Console, make_user: MakeUser
):
    make_run()
    for role, controls in (("viewer", 0), ("operator", 1)):
        ctx = browser.new_context()
        page = ctx.new_page()
        sign_in(page, console, make_user(role))
        expect(page.locator("#latest-runs")).to_be_visible()
        expect(page.locator("#run-now")).to_have_count(controls)
        assert page.get_by_role("button", name="Run now").count() == controls
        ctx.close()


def test_an_operator_runs_a_job_now_with_a_reason_and_it_appears_in_the_list(
    page: Page, console: Console, make_user: MakeUser
):
    with session_scope() as session:
        session.add(Job(job_id="load_sales", name="load_sales"))
    sign_in(page, console, make_user("operator"))
    page.select_option("#run-now-job", "load_sales")
    page.fill("#run-now-reason", "late upstream file")
    page.click("#run-now-submit")
    expect(page.locator("#run-now-notice")).to_contain_text("of load_sales queued")
    with session_scope() as session:
        [run] = session.exec(select(Run)).all()
    assert (run.requested_by, run.reason) == ("operator", "late upstream file")
    row = page.locator(f"#latest-runs tr[data-run-id='{run.run_id}']")
    expect(row).to_have_attribute("data-status", "queued", timeout=LIVE_TIMEOUT_MS)
    page.get_by_role("link", name="Open the run").click()
    expect(page).to_have_url(f"{console.base}/runs/{run.run_id}")


@pytest.mark.usefixtures("publishing")
def test_the_overview_follows_run_changes_live_and_toasts_a_failure(
    page: Page, console: Console, make_user: MakeUser
):
    run_id = make_run()
    sign_in(page, console, make_user("viewer"))
    row = page.locator(f"#latest-runs tr[data-run-id='{run_id}']")
    expect(row).to_have_attribute("data-status", "queued")

    move(run_id, RunStatus.DISPATCHED, RunStatus.RUNNING)
    expect(row).to_have_attribute("data-status", "running", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#etl-slots")).to_have_text("1 / 4 running", timeout=LIVE_TIMEOUT_MS)

    move(run_id, RunStatus.FAILED, error_excerpt="boom")
    expect(row).to_have_attribute("data-status", "failed", timeout=LIVE_TIMEOUT_MS)
    toast = page.get_by_role("link", name=f"Run {run_id} of load_sales failed")
    expect(toast).to_have_attribute("href", f"/runs/{run_id}", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#etl-announcer")).to_have_text(
        f"Run {run_id} of load_sales is now failed", timeout=LIVE_TIMEOUT_MS
    )


@pytest.mark.usefixtures("publishing")
def test_the_run_page_follows_its_run_live(page: Page, console: Console, make_user: MakeUser):
    run_id = make_run()
    sign_in(page, console, make_user("viewer"), f"/runs/{run_id}")
    summary = page.locator("#run-summary")
    expect(summary).to_contain_text("queued")
    move(run_id, RunStatus.DISPATCHED, RunStatus.RUNNING)
    expect(summary).to_contain_text("running", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#etl-announcer")).to_have_text(f"Run {run_id} is now running")


def _failed_run_with_an_attempt() -> int:
    run_id = make_run()
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        session.add(
            RunAttempt(
                run_id=run_id,
                attempt=1,
                token="t1",
                worker="host-1",
                started_at=run.queued_at,
                ended_at=run.queued_at,
                duration_s=1.5,
                outcome="failed",
                error_class="permanent",
                error_type="ValueError",
                error_message="bad row 7",
            )
        )
    move(
        run_id,
        RunStatus.DISPATCHED,
        RunStatus.RUNNING,
        RunStatus.FAILED,
        error_class="permanent",
        error_excerpt="ValueError: bad row 7",
        attempts=1,
    )
    return run_id


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_sign_in_overview_and_run_pages_have_no_serious_accessibility_violations(
    browser: Browser, console: Console, make_user: MakeUser, axe_script: Path, scheme: str
):
    run_id = _failed_run_with_an_attempt()
    ctx = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})  # type: ignore[arg-type]
    page = ctx.new_page()
    found: dict[str, Any] = {}
    page.goto(console.base + "/signin?error=invalid")
    expect(page.locator("#signin-error")).to_be_visible()
    found["signin"] = serious_violations(page, axe_script)
    sign_in(page, console, make_user("operator"))
    expect(page.locator(f"#latest-runs tr[data-run-id='{run_id}']")).to_be_visible()
    # No scheduler or worker runs here: the health check's alert is on the page, audited too.
    expect(page.get_by_role("alert")).to_contain_text("The system is degraded")
    found["overview"] = serious_violations(page, axe_script)
    page.goto(f"{console.base}/runs/{run_id}")
    expect(page.locator("#run-error")).to_contain_text("bad row 7")
    found["run"] = serious_violations(page, axe_script)
    ctx.close()
    assert found == {"signin": [], "overview": [], "run": []}, json.dumps(found, indent=1)


def test_every_page_fits_a_360_pixel_wide_screen(
    browser: Browser, console: Console, make_user: MakeUser
):
    run_id = _failed_run_with_an_attempt()
    ctx = browser.new_context(viewport={"width": 360, "height": 740})
    page = ctx.new_page()
    widths = {}
    page.goto(console.base + "/signin")
    widths["signin"] = page.evaluate("document.documentElement.scrollWidth")
    sign_in(page, console, make_user("operator"))
    widths["overview"] = page.evaluate("document.documentElement.scrollWidth")
    page.goto(f"{console.base}/runs/{run_id}")
    expect(page.locator("#run-error")).to_be_visible()
    widths["run"] = page.evaluate("document.documentElement.scrollWidth")
    ctx.close()
    assert widths == {"signin": 360, "overview": 360, "run": 360}


def _set_poll_s(seconds: float) -> None:
    """The console's own-refresh interval as the next page load reads it (0: no polling)."""
    with session_scope() as session:
        session.merge(Setting(key=settings.CONSOLE_POLL_S, value=seconds))


def _record_pushes(page: Page) -> list[str]:
    """Every websocket frame the page receives that carries a state change, as text."""
    frames: list[str] = []

    def watch(ws: Any) -> None:
        ws.on(
            "framereceived",
            lambda payload: frames.append(payload) if "delta" in str(payload) else None,
        )

    page.on("websocket", watch)
    return frames


@pytest.mark.usefixtures("publishing")
def test_a_paused_page_gets_no_refreshes_and_resuming_catches_up_at_once(
    page: Page, console: Console, make_user: MakeUser
):
    run_id = make_run()
    pushes = _record_pushes(page)
    sign_in(page, console, make_user("viewer"))
    row = page.locator(f"#latest-runs tr[data-run-id='{run_id}']")
    expect(row).to_have_attribute("data-status", "queued")
    toggle = page.get_by_role("button", name="Pause live updates")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#etl-live-state")).to_have_text("Live")

    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#etl-live-state")).to_have_text("Paused: this page is not updating")
    expect(row).to_have_attribute("data-status", "queued")  # the view is kept, not emptied
    page.wait_for_timeout(500)  # the pause's own state changes have arrived
    seen = len(pushes)
    move(run_id, RunStatus.DISPATCHED, RunStatus.RUNNING)
    # Longer than a push (ms) and than the 5 s poll: neither reaches a paused page.
    page.wait_for_timeout(6500)
    expect(row).to_have_attribute("data-status", "queued")
    assert pushes[seen:] == []

    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(row).to_have_attribute("data-status", "running", timeout=1500)
    expect(page.locator("#etl-slots")).to_have_text("1 / 4 running")
    assert len(pushes) > seen  # the frames counted above are the ones that carry updates


def test_with_pushes_broken_the_page_catches_up_by_polling_within_5_s(
    page: Page, console: Console, make_user: MakeUser
):
    # No `publishing` fixture: these changes reach the database but never etl:events.
    run_id = make_run()
    sign_in(page, console, make_user("viewer"))
    row = page.locator(f"#latest-runs tr[data-run-id='{run_id}']")
    expect(row).to_have_attribute("data-status", "queued")
    move(run_id, RunStatus.DISPATCHED, RunStatus.RUNNING)
    changed = time.monotonic()
    # The server's own periodic refresh comes every 15 s: only the page's poll is this quick.
    expect(row).to_have_attribute("data-status", "running", timeout=5000 + 1000)
    assert time.monotonic() - changed < 6.0
    expect(page.locator("#etl-slots")).to_have_text("1 / 4 running")


@pytest.mark.usefixtures("publishing")
def test_without_polling_a_pushed_change_shows_within_a_second_with_toast_and_announcement(
    page: Page, console: Console, make_user: MakeUser
):
    _set_poll_s(0)
    run_id = make_run()
    move(run_id, RunStatus.DISPATCHED, RunStatus.RUNNING)
    sign_in(page, console, make_user("viewer"))
    row = page.locator(f"#latest-runs tr[data-run-id='{run_id}']")
    expect(row).to_have_attribute("data-status", "running")
    page.wait_for_timeout(1200)  # past the per-view throttle of the sign-in's own events
    move(run_id, RunStatus.FAILED, error_excerpt="boom")
    expect(row).to_have_attribute("data-status", "failed", timeout=1000)
    expect(page.get_by_role("link", name=f"Run {run_id} of load_sales failed")).to_be_visible(
        timeout=1000
    )
    expect(page.locator("#etl-announcer")).to_have_text(
        f"Run {run_id} of load_sales is now failed", timeout=1000
    )


def test_the_health_banner_follows_the_scheduler_and_can_be_checked_again(
    page: Page, console: Console, make_user: MakeUser, engine: Engine
):
    alert = page.get_by_role("alert")
    engine.start("worker")
    engine.start("scheduler")
    sign_in(page, console, make_user("viewer"))
    expect(alert).to_have_count(0, timeout=20_000)  # worker and scheduler heartbeat

    engine.stop("scheduler")
    expect(alert).to_contain_text("No scheduler heartbeat", timeout=10_000)
    page.get_by_role("button", name="Check again").click()
    expect(page.locator("#etl-health-note")).to_contain_text("still degraded")
    expect(alert).to_contain_text("No scheduler heartbeat")

    engine.start("scheduler")
    expect(alert).to_have_count(0, timeout=10_000)


@pytest.mark.usefixtures("publishing")
def test_own_runs_and_runs_on_screen_are_toasted_as_they_queue_start_and_complete(
    browser: Browser, console: Console, make_user: MakeUser
):
    operator, viewer = make_user("operator"), make_user("viewer")
    with session_scope() as session:
        session.add(Job(job_id="load_sales", name="load_sales"))
    mine, theirs = browser.new_context(), browser.new_context()
    own_page, other_page = mine.new_page(), theirs.new_page()
    sign_in(own_page, console, operator)
    unrelated = make_run("other_job")
    sign_in(other_page, console, viewer, f"/runs/{unrelated}")

    own_page.select_option("#run-now-job", "load_sales")
    own_page.fill("#run-now-reason", "toast check")
    own_page.click("#run-now-submit")
    expect(own_page.locator("#run-now-notice")).to_contain_text("queued")
    with session_scope() as session:
        [run] = session.exec(select(Run).where(Run.job_id == "load_sales")).all()
    run_id = run.run_id
    assert run_id is not None
    queued = own_page.get_by_role("link", name=f"Run {run_id} of load_sales queued")
    expect(queued).to_have_attribute("href", f"/runs/{run_id}", timeout=LIVE_TIMEOUT_MS)

    move(run_id, RunStatus.DISPATCHED, RunStatus.RUNNING)
    started = own_page.get_by_role("link", name=f"Run {run_id} of load_sales started")
    expect(started).to_have_attribute("href", f"/runs/{run_id}", timeout=LIVE_TIMEOUT_MS)
    # The viewer neither asked for this run nor has it on screen: no toast for them.
    expect(other_page.get_by_role("link", name=re.compile(f"Run {run_id} of"))).to_have_count(0)

    # The viewer opens the overview, where the run is listed: now its changes are toasted.
    other_page.goto(console.base + "/")
    expect(other_page.locator(f"#latest-runs tr[data-run-id='{run_id}']")).to_be_visible()
    move(run_id, RunStatus.SUCCEEDED)
    for page in (own_page, other_page):
        done = page.get_by_role("link", name=f"Run {run_id} of load_sales completed")
        expect(done).to_have_attribute("href", f"/runs/{run_id}", timeout=LIVE_TIMEOUT_MS)
    # On its run page the unrelated run is in view; its changes are toasted there (behind the
    # run's modal drawer, so hidden from the accessibility tree: the drawer announces them).
    other_page.goto(f"{console.base}/runs/{unrelated}")
    expect(other_page.locator("#run-summary")).to_contain_text("queued")
    move(unrelated, RunStatus.DISPATCHED, RunStatus.RUNNING)
    expect(
        other_page.get_by_role(
            "link", name=f"Run {unrelated} of other_job started", include_hidden=True
        )
    ).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    mine.close()
    theirs.close()


def test_behind_a_trusted_proxy_the_user_is_signed_in_with_the_role_of_their_groups(
    browser: Browser, console: Console
):
    ctx = browser.new_context(
        extra_http_headers={"X-Forwarded-User": "Pat", "X-Forwarded-Groups": "etl-staff,etl-ops"}
    )
    page = ctx.new_page()
    page.goto(console.base + "/")
    expect(page).to_have_url(console.base + "/")
    expect(page.locator("#etl-user")).to_contain_text("pat · operator")
    expect(page.locator("#run-now")).to_be_visible()
    ctx.close()


@pytest.mark.usefixtures("publishing")
def test_a_paused_run_page_holds_its_run_until_resumed(
    page: Page, console: Console, make_user: MakeUser
):
    run_id = make_run()
    sign_in(page, console, make_user("viewer"), f"/runs/{run_id}")
    summary = page.locator("#run-summary")
    expect(summary).to_contain_text("queued")
    toggle = page.get_by_role("button", name="Pause live updates")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(summary).to_contain_text("queued")
    move(run_id, RunStatus.DISPATCHED, RunStatus.RUNNING)
    page.wait_for_timeout(6500)  # past a push and a poll
    expect(summary).to_contain_text("queued")
    toggle.click()
    expect(summary).to_contain_text("running", timeout=1500)
