"""The dependency graph in Chromium: levels and edges as in the database, blocked jobs marked
live, keyboard access, and no serious accessibility violations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from etl_orchestrator import dag
from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.registry import load_jobs
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import Job, JobDependency
from etl_orchestrator.states import RunStatus
from etl_orchestrator.timeutil import utcnow
from tests.web.browser.support import (
    LIVE_TIMEOUT_MS,
    Console,
    make_run,
    move,
    serious_violations,
    sign_in,
)
from tests.web.conftest import MakeUser

PIPELINE = "etl_orchestrator.examples.pipeline"
S = RunStatus


@pytest.fixture
def demo() -> dict[str, int]:
    """The demo pipeline synced into the console's database; returns each job's level as
    computed from the tables."""
    with session_scope() as session:
        sync_jobs(session, load_jobs([PIPELINE]), now=utcnow())
    with session_scope() as session:
        deps: dict[str, list[str]] = {
            job_id: [] for job_id in session.exec(select(Job.job_id).where(Job.declared)).all()
        }
        for edge in session.exec(select(JobDependency)).all():
            deps[edge.job_id].append(edge.upstream_job_id)
    return dag.topological_levels(deps)


def db_edges() -> set[tuple[str, str, str]]:
    with session_scope() as session:
        return {
            (e.upstream_job_id, e.job_id, e.dep_type)
            for e in session.exec(select(JobDependency)).all()
        }


def shown_graph(page: Page, count: int) -> tuple[dict[str, str], set[tuple[str, str, str]]]:
    expect(page.locator("[data-job]")).to_have_count(count)
    levels: dict[str, str] = page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('[data-job]'))
                 .map(e => [e.dataset.job, e.dataset.level]))"""
    )
    edges = page.evaluate(
        """() => Array.from(document.querySelectorAll('.react-flow__edge')).map(e => {
                 const [source, target] = e.dataset.id.split('->');
                 return [source, target, e.querySelector('[data-dep-type]').dataset.depType];
             })"""
    )
    return levels, {tuple(edge) for edge in edges}


def test_the_demo_pipeline_shows_every_job_at_its_database_level_with_the_database_edges(
    page: Page, console: Console, make_user: MakeUser, demo: dict[str, int]
):
    person = make_user("viewer")
    sign_in(page, console, person, "/dag/")
    levels, edges = shown_graph(page, len(demo))
    assert levels == {job_id: str(level) for job_id, level in demo.items()}
    assert edges == db_edges()
    # The level columns are labelled, one per level.
    for level in set(demo.values()):
        expect(page.get_by_text(re.compile(rf"^Level {level} · \d+ jobs?$"))).to_be_visible()
    # Each edge tells its dependency type on hover (an SVG title), and a click opens a job.
    tip = page.locator('.react-flow__edge[data-id="stg_orders->fct_sales"] title')
    expect(tip).to_have_text("stg_orders → fct_sales: success dependency")
    page.locator('[data-job="fct_sales"]').click()
    expect(page).to_have_url(f"{console.base}/jobs/fct_sales")


def test_a_jobs_graph_holds_its_upstream_and_downstream_only(
    page: Page, console: Console, make_user: MakeUser, demo: dict[str, int]
):
    sign_in(page, console, make_user("viewer"), "/dag/stg_orders")
    expect(page.locator('[data-job="stg_orders"]')).to_have_attribute("aria-current", "page")
    levels, edges = shown_graph(page, 7)
    assert set(levels) == {
        "extract_orders",
        "stg_orders",
        "fct_sales",
        "agg_daily_sales",
        "agg_customer_ltv",
        "agg_product_performance",
        "rpt_monthly_kpis",
    }
    assert all(levels[job_id] == str(demo[job_id]) for job_id in levels)
    assert edges == {edge for edge in db_edges() if edge[0] in levels and edge[1] in levels}
    # A job that is not declared is explained instead of drawn.
    page.goto(f"{console.base}/dag/no_such_job")
    expect(page.get_by_text("There is no declared job 'no_such_job'.")).to_be_visible()
    expect(page.locator("[data-job]")).to_have_count(0)


def test_the_job_pages_dag_tab_shows_its_graph_and_the_whole_pipeline_on_request(
    page: Page, console: Console, make_user: MakeUser, demo: dict[str, int]
):
    sign_in(page, console, make_user("viewer"), "/jobs/stg_orders?tab=dag")
    expect(page.locator('[data-job="stg_orders"]')).to_have_attribute("aria-current", "page")
    levels, edges = shown_graph(page, 7)
    expect(page.locator("#dag-summary")).to_have_text(
        f"7 jobs in {len(set(levels.values()))} levels, {len(edges)} dependencies"
    )
    page.locator("#dag-whole").click()
    expect(page.locator("[data-job]")).to_have_count(len(demo))
    expect(page.locator('[data-job="stg_orders"]')).not_to_have_attribute("aria-current", "page")


def test_a_failed_upstream_marks_its_dependents_blocked_as_it_happens(
    page: Page, console: Console, make_user: MakeUser, demo: dict[str, int], publishing: None
):
    sign_in(page, console, make_user("viewer"), "/dag/")
    upstream = page.locator('[data-job="extract_orders"]')
    dependent = page.locator('[data-job="stg_orders"]')
    expect(upstream).to_have_attribute("data-status", "never")
    expect(dependent).not_to_have_attribute("data-blocked-by", re.compile("."))

    run_id = make_run("extract_orders")
    move(run_id, S.DISPATCHED, S.RUNNING)
    expect(upstream).to_have_attribute("data-status", "running", timeout=LIVE_TIMEOUT_MS)
    expect(upstream).to_contain_text("running")
    move(run_id, S.FAILED)

    expect(upstream).to_have_attribute("data-status", "failed", timeout=LIVE_TIMEOUT_MS)
    expect(upstream).to_contain_text("failed")
    expect(dependent).to_have_attribute("data-blocked-by", "extract_orders")
    expect(dependent).to_contain_text("blocked by extract_orders")
    # A fresh load reads the same from the database.
    page.reload()
    expect(page.locator('[data-job="stg_orders"]')).to_contain_text("blocked by extract_orders")


def test_tab_reaches_a_job_with_a_visible_focus_and_enter_opens_it(
    page: Page, console: Console, make_user: MakeUser, demo: dict[str, int]
):
    sign_in(page, console, make_user("viewer"), "/dag/")
    expect(page.locator("[data-job]")).to_have_count(len(demo))
    focused = ""
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement.dataset.job || ''")
        if focused:
            break
    assert focused, "Tab never reached a job of the graph"
    outline = page.evaluate(
        "() => [document.activeElement.matches(':focus-visible'),"
        " getComputedStyle(document.activeElement).outlineStyle]"
    )
    assert outline == [True, "solid"]
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{console.base}/jobs/{focused}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_graph_pages_have_no_serious_accessibility_violations(
    browser: Browser,
    console: Console,
    make_user: MakeUser,
    demo: dict[str, int],
    axe_script: Path,
    scheme: str,
):
    run_id = make_run("dim_date")
    move(run_id, S.DISPATCHED, S.RUNNING, S.FAILED)  # so blocked marks are audited too
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        color_scheme=scheme,  # type: ignore[arg-type]
    )
    try:
        page = context.new_page()
        person = make_user("viewer")
        for path in ("/dag/", "/dag/fct_sales"):
            if path == "/dag/":
                sign_in(page, console, person, path)
            else:
                page.goto(console.base + path)
            expect(page.locator('[data-job="fct_sales"]')).to_contain_text("blocked by dim_date")
            assert serious_violations(page, axe_script) == [], path
    finally:
        context.close()


def test_a_paused_graph_holds_its_statuses_and_resuming_catches_up(
    page: Page, console: Console, make_user: MakeUser, demo: dict[str, int], publishing: None
):
    sign_in(page, console, make_user("viewer"), "/dag/")
    node = page.locator('[data-job="dim_date"]')
    expect(node).to_have_attribute("data-status", "never")
    toggle = page.get_by_role("button", name="Pause live updates")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(500)  # the pause's own state changes have arrived
    expect(node).to_have_attribute("data-status", "never")  # kept, not emptied
    run_id = make_run("dim_date")
    move(run_id, S.DISPATCHED, S.RUNNING)
    # Longer than a push (ms) and than the 5 s poll: neither reaches a paused page.
    page.wait_for_timeout(6500)
    expect(node).to_have_attribute("data-status", "never")

    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(node).to_have_attribute("data-status", "running", timeout=LIVE_TIMEOUT_MS)


def test_the_graph_page_fits_a_360_pixel_wide_screen(
    browser: Browser, console: Console, make_user: MakeUser, demo: dict[str, int]
):
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        sign_in(page, console, make_user("viewer"), "/dag/")
        expect(page.locator("[data-job]")).to_have_count(len(demo))
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        context.close()
