"""The job page in Chromium: tabs in the URL, the runs table, the run drawer live with the real
engine (retries with backoff, a permanent failure), the drawer's actions by role, the keyboard
and accessibility."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from etl_orchestrator.db import session_scope
from etl_orchestrator.examples.operations import flaky_attempt_fails
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import Job
from etl_orchestrator.services import catalog, run_actions, runs
from etl_orchestrator.timeutil import utcnow
from tests.web.browser.support import (
    Console,
    Engine,
    make_run,
    serious_violations,
    sign_in,
)
from tests.web.conftest import MakeUser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: A run with retries takes a few backoff waits (1 + 2 + 4 + 8 s at worst) and a busy machine.
ENGINE_TIMEOUT_MS = 60_000
DEMO_JOBS = ("flaky_inventory_sync", "quarantine_bad_rows")


def _sync_demo_jobs() -> None:
    """The two operational demo jobs, declared and enabled (the quality gate ships disabled)."""
    specs = catalog.job_specs()
    with session_scope() as session:
        sync_jobs(session, {j: specs[j] for j in DEMO_JOBS}, now=utcnow(), actor="test")
    with session_scope() as session:
        for job_id in DEMO_JOBS:
            job = session.get(Job, job_id)
            assert job is not None
            job.enabled = True


def _trigger(job_id: str) -> int:
    with session_scope() as session:
        [run_id] = runs.trigger(session, job_id=job_id, reason="browser test").run_ids
        return run_id


def _flaky_run_that_retries() -> int:
    """A flaky run whose first attempt fails (the coin is seeded by run id); others cancelled."""
    while True:
        run_id = _trigger("flaky_inventory_sync")
        if flaky_attempt_fails(run_id, 1):
            return run_id
        with session_scope() as session:
            run_actions.cancel_run(session, run_id=run_id, actor="test", reason="coin says no")


def _drawer(page: Page) -> Any:
    return page.get_by_role("dialog")


def test_the_tab_is_in_the_url_and_an_unknown_job_says_not_found(
    page: Page, console: Console, make_user: MakeUser
):
    run_id = make_run()
    sign_in(page, console, make_user("viewer"), "/jobs/load_sales?tab=runs")
    expect(page.get_by_role("tab", name="Runs")).to_have_attribute("aria-selected", "true")
    expect(page.locator(f"#job-runs tr[data-run-id='{run_id}']")).to_be_visible()
    page.get_by_role("tab", name="Overview").click()
    expect(page).to_have_url(re.compile(r"/jobs/load_sales\?tab=overview$"))
    expect(page.locator("#job-retry")).to_contain_text("up to 3 attempts")
    expect(page.locator("#job-isolation")).to_have_text("a fresh process per attempt")
    page.goto(f"{console.base}/jobs/no_such_job")
    expect(page.get_by_role("heading", level=1)).to_have_text("Job not found")
    expect(page.get_by_role("link", name="Back to the jobs")).to_have_attribute("href", "/jobs")
    page.goto(f"{console.base}/runs/999999")
    expect(page.get_by_role("heading", level=1)).to_have_text("Run not found")


def test_keyboard_opens_a_run_drawer_escape_closes_it_and_logs_follow_its_run(
    page: Page, console: Console, make_user: MakeUser
):
    run_id = make_run()
    sign_in(page, console, make_user("viewer"), "/jobs/load_sales?tab=runs")
    opener = page.get_by_role("button", name=f"Open run {run_id}")
    opener.focus()
    page.keyboard.press("Enter")
    expect(_drawer(page)).to_be_visible()
    expect(_drawer(page).locator("#run-summary")).to_contain_text("queued")
    page.keyboard.press("Escape")
    expect(_drawer(page)).to_have_count(0)
    expect(opener).to_be_focused()
    # The drawer's "Logs" opens the Logs tab (which follows this run: LogViewState.follow).
    page.keyboard.press("Enter")
    _drawer(page).get_by_role("button", name="Logs").click()
    expect(page.get_by_role("tab", name="Logs")).to_be_focused()
    expect(page).to_have_url(re.compile(r"/jobs/load_sales\?tab=logs$"))


def test_a_viewer_sees_no_run_actions(page: Page, console: Console, make_user: MakeUser):
    run_id = make_run()
    sign_in(page, console, make_user("viewer"), f"/runs/{run_id}")
    expect(_drawer(page).locator("#run-summary")).to_contain_text("queued")
    expect(page.locator("#run-actions")).to_have_count(0)
    expect(page.locator("#run-cancel")).to_have_count(0)


def test_an_operator_cancels_a_run_and_opens_a_dry_run_rerun_from_the_drawer(
    page: Page, console: Console, make_user: MakeUser
):
    run_id = make_run()
    sign_in(page, console, make_user("operator"), f"/runs/{run_id}")
    drawer = _drawer(page)
    expect(drawer.locator("#run-summary")).to_contain_text("queued")
    expect(drawer.locator("#run-retry")).to_have_count(0)  # only a failed run is retried
    drawer.locator("#run-cancel-reason").fill("wrong day")
    drawer.locator("#run-cancel").click()
    expect(drawer.locator("#run-notice")).to_contain_text(f"Run {run_id} cancelled")
    expect(drawer.locator("#run-summary")).to_contain_text("cancelled")
    expect(drawer.locator("#run-retry")).to_be_visible()
    drawer.locator("#run-rerun-dry").click()
    expect(page.locator("#run-modal")).to_be_visible()
    expect(page.locator("#run-modal")).to_contain_text("load_sales")


def test_the_flaky_job_shows_its_attempts_and_backoff_live_and_then_succeeds(
    page: Page, console: Console, make_user: MakeUser, engine: Engine
):
    _sync_demo_jobs()
    run_id = _flaky_run_that_retries()
    sign_in(page, console, make_user("viewer"), f"/runs/{run_id}")
    drawer = _drawer(page)
    expect(drawer.locator("#run-summary")).to_contain_text("queued")
    engine.start("worker")
    engine.start("scheduler")
    first = drawer.locator(".etl-attempt[data-attempt='1']")
    expect(first).to_have_attribute("data-error-class", "transient", timeout=ENGINE_TIMEOUT_MS)
    expect(first).to_contain_text("timed out (simulated)")
    retrying = drawer.locator("#run-timeline li[data-status='retrying']").first
    expect(retrying).to_contain_text("next attempt in", timeout=ENGINE_TIMEOUT_MS)
    expect(drawer.locator("#run-summary")).to_contain_text("succeeded", timeout=ENGINE_TIMEOUT_MS)
    expect(retrying).to_contain_text("waited")
    attempts = drawer.locator(".etl-attempt")
    last = attempts.last
    expect(last).to_have_attribute("data-outcome", "succeeded")
    assert attempts.count() >= 2
    expect(drawer.locator("#run-lineage")).to_contain_text("inventory_snapshot")


def test_a_permanent_failure_shows_one_permanent_attempt_and_an_operator_retries_it(
    page: Page, console: Console, make_user: MakeUser, engine: Engine
):
    _sync_demo_jobs()
    run_id = _trigger("quarantine_bad_rows")
    engine.start("worker")
    engine.start("scheduler")
    sign_in(page, console, make_user("operator"), f"/runs/{run_id}")
    drawer = _drawer(page)
    expect(drawer.locator("#run-summary")).to_contain_text("failed", timeout=ENGINE_TIMEOUT_MS)
    attempts = drawer.locator(".etl-attempt")
    expect(attempts).to_have_count(1)
    expect(attempts.first).to_have_attribute("data-error-class", "permanent")
    expect(attempts.first).to_contain_text("break the contract")
    drawer.locator("#run-retry-reason").fill("after fixing the shop data")
    drawer.locator("#run-retry").click()
    expect(drawer.locator("#run-notice")).to_contain_text(f"Run {run_id} retried as run")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_job_page_tabs_and_the_open_drawer_have_no_serious_accessibility_violations(
    browser: Browser, console: Console, make_user: MakeUser, axe_script: Path, scheme: str
):
    _sync_demo_jobs()
    run_id = _trigger("quarantine_bad_rows")
    ctx = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})  # type: ignore[arg-type]
    page = ctx.new_page()
    sign_in(page, console, make_user("operator"), "/jobs/quarantine_bad_rows")
    found: dict[str, Any] = {}
    expect(page.locator("#job-params")).to_contain_text("max_bad_rows")
    found["overview"] = serious_violations(page, axe_script)
    for tab in ("DAG", "Runs", "Logs", "Metrics"):
        page.get_by_role("tab", name=tab).click()
        expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
        found[tab] = serious_violations(page, axe_script)
    page.get_by_role("tab", name="Runs").click()
    page.get_by_role("button", name=f"Open run {run_id}").click()
    expect(_drawer(page).locator("#run-summary")).to_contain_text("queued")
    found["drawer"] = serious_violations(page, axe_script, within="[role=dialog]")
    ctx.close()
    assert all(not v for v in found.values()), json.dumps(found, indent=1)


def test_the_job_page_and_its_drawer_fit_a_360_pixel_wide_screen(
    browser: Browser, console: Console, make_user: MakeUser
):
    run_id = make_run()
    ctx = browser.new_context(viewport={"width": 360, "height": 740})
    page = ctx.new_page()
    sign_in(page, console, make_user("operator"), "/jobs/load_sales?tab=runs")
    expect(page.locator(f"#job-runs tr[data-run-id='{run_id}']")).to_be_visible()
    widths = {"runs": page.evaluate("document.documentElement.scrollWidth")}
    page.get_by_role("tab", name="Overview").click()
    expect(page.locator("#job-config")).to_be_visible()
    widths["overview"] = page.evaluate("document.documentElement.scrollWidth")
    page.goto(f"{console.base}/runs/{run_id}")
    expect(_drawer(page).locator("#run-summary")).to_contain_text("queued")
    widths["drawer"] = page.evaluate("document.documentElement.scrollWidth")
    ctx.close()
    assert widths == {"runs": 360, "overview": 360, "drawer": 360}
