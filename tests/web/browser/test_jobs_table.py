"""The jobs table in Chromium: every sort, filter, search and page is what SQL returns (ties in
the sort keys, forwards and backwards, via the URL), bulk actions, roles, live rows, keyboard
use, accessibility and a phone-sized screen."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, JobDependency, Run
from etl_orchestrator.services import job_queries
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
from tests.web.conftest import MakeUser, Person

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGE = 6
ROWS = "#jobs-table tr.etl-job-row"


def seed_jobs() -> list[str]:
    """17 jobs with ties and NULLs in every sort key, tags, domains and a parameterized one."""
    from datetime import timedelta

    now = utcnow().replace(microsecond=0)
    statuses = [None, "succeeded", "failed", "upstream_failed"]
    made = []
    with session_scope() as session:
        for index in range(17):
            job = Job(
                job_id=f"job_{index:02d}",
                name=["alpha", "Beta", "gamma"][index % 3],
                enabled=index % 5 != 0,
                cron="0 2 * * *" if index % 2 else None,
                next_run_at=now + timedelta(hours=index % 3) if index % 2 else None,
                last_run_status=statuses[index % 4],
                last_run_duration_s=None if index % 4 == 0 else float(index % 3),
                priority=index % 2,
                tags=["daily"] if index % 3 == 0 else ["hourly", "pii"],
                domain="sales" if index < 9 else "finance",
                params_schema={"properties": {"day": {"type": "string"}}} if index == 4 else None,
            )
            session.add(job)
            made.append(job.job_id)
        session.flush()
        session.add(JobDependency(job_id="job_03", upstream_job_id="job_01"))
    return made


def open_jobs(page: Page, console: Console, person: Person, path: str) -> None:
    """Sign in, then open `path` (the built app serves /jobs as /jobs/, query kept)."""
    sign_in(page, console, person)
    goto_jobs(page, console.base + path)


def goto_jobs(page: Page, url: str) -> None:
    """Load the jobs page at `url` (a full page load: slow on a busy machine)."""
    page.goto(url)
    expect(page.locator("#jobs-table, #jobs-empty").first).to_be_visible(timeout=15_000)


def shown(page: Page) -> list[str]:
    return [str(row.get_attribute("data-job-id")) for row in page.locator(ROWS).all()]


def sql_pages(**options: Any) -> list[list[str]]:
    """Every page, as list_jobs walks them."""
    pages, after = [], None
    while True:
        with session_scope() as session:
            found = job_queries.list_jobs(session, after=after, limit=PAGE, **options)
        pages.append([row.job_id for row in found.jobs])
        if found.next_cursor is None:
            return pages
        after = found.next_cursor


def expect_rows(page: Page, ids: list[str]) -> None:
    if ids:
        expect(page.locator(ROWS)).to_have_count(len(ids))
    # Row by row: a previous page's rows may still be on screen for a moment.
    for index, job_id in enumerate(ids):
        expect(page.locator(ROWS).nth(index)).to_have_attribute("data-job-id", job_id)


def walk_both_ways(page: Page, pages: list[list[str]]) -> None:
    for number, ids in enumerate(pages):
        expect_rows(page, ids)
        if number + 1 < len(pages):
            page.locator("#jobs-next").click()
    expect(page.locator("#jobs-next")).to_be_disabled()
    for ids in reversed(pages[:-1]):
        page.locator("#jobs-prev").click()
        expect_rows(page, ids)
    expect(page.locator("#jobs-prev")).to_be_disabled()


CASES: list[tuple[dict[str, str], dict[str, Any]]] = [
    *[
        ({"sort": sort, "dir": direction}, {"sort": sort, "descending": direction == "desc"})
        for sort in job_queries.SORTS
        for direction in ("asc", "desc")
    ],
    ({"enabled": "no"}, {"enabled": False}),
    ({"outcome": "fail", "sort": "name"}, {"last_outcome": "fail", "sort": "name"}),
    ({"outcome": "success"}, {"last_outcome": "success"}),
    ({"tag": "pii", "sort": "priority"}, {"tags": ["pii"], "sort": "priority"}),
    ({"domain": "finance"}, {"domain": "finance"}),
    ({"q": "BETA", "sort": "next_run_at"}, {"search": "BETA", "sort": "next_run_at"}),
]


def test_every_sort_filter_and_search_pages_forwards_and_backwards_as_sql_does(
    page: Page, console: Console, make_user: MakeUser
):
    seed_jobs()
    open_jobs(page, console, make_user("viewer"), f"/jobs?size={PAGE}")
    for params, options in CASES:
        goto_jobs(page, f"{console.base}/jobs?{urlencode({**params, 'size': PAGE})}")
        pages = sql_pages(**options)
        assert sum(len(p) for p in pages) > 0, params
        walk_both_ways(page, pages)


def test_controls_write_the_view_into_the_url_and_back_and_forward_replay_it(
    page: Page, console: Console, make_user: MakeUser
):
    seed_jobs()
    open_jobs(page, console, make_user("viewer"), f"/jobs?size={PAGE}")
    expect_rows(page, sql_pages()[0])
    page.get_by_role("button", name="Sort by Priority").click()
    expect(page).to_have_url(re.compile(r"sort=priority"))
    expect_rows(page, sql_pages(sort="priority")[0])
    page.locator("#sort-priority").click()
    expect(page).to_have_url(re.compile(r"sort=priority&dir=desc"))
    expect_rows(page, sql_pages(sort="priority", descending=True)[0])
    page.select_option("#filter-domain", "sales")
    expect(page).to_have_url(re.compile(r"domain=sales"))
    expect_rows(page, sql_pages(sort="priority", descending=True, domain="sales")[0])
    page.locator("#jobs-next").click()
    second = sql_pages(sort="priority", descending=True, domain="sales")[1]
    expect_rows(page, second)
    # The rows can be on screen a moment before the page's cursor reaches the address bar.
    expect(page).to_have_url(re.compile(r"after="))
    shared = page.url
    page.locator("#jobs-search").fill("gamma")
    expect(page).to_have_url(re.compile(r"q=gamma"))
    options: dict[str, Any] = {"sort": "priority", "descending": True, "domain": "sales"}
    expect_rows(page, sql_pages(search="gamma", **options)[0])
    page.locator("#jobs-search").fill("gam")  # refining a search replaces its history entry
    expect(page).to_have_url(re.compile(r"q=gam(&|$)"))
    expect_rows(page, sql_pages(search="gam", **options)[0])
    # Back: the second page, then the first.
    page.go_back()
    expect(page).to_have_url(shared)
    expect_rows(page, second)
    page.go_back()
    expect_rows(page, sql_pages(**options)[0])
    page.go_forward()
    expect_rows(page, second)
    # A shared link shows the same view in another tab.
    other = page.context.new_page()
    other.goto(shared)
    expect_rows(other, second)
    expect(other.locator("#filter-domain")).to_have_value("sales")
    other.close()
    # Nothing matches: said so, with a way out.
    goto_jobs(page, f"{console.base}/jobs?q=no-such-job")
    expect(page.locator("#jobs-empty")).to_have_text("No job matches these filters.")
    page.locator("#jobs-empty-clear").click()
    expect(page).to_have_url(re.compile(r"/jobs/?$"))
    expect(page.locator(ROWS)).to_have_count(17)


def test_a_row_shows_its_columns_and_badges(page: Page, console: Console, make_user: MakeUser):
    seed_jobs()
    open_jobs(page, console, make_user("viewer"), "/jobs?q=job_03")
    row = page.locator(f"{ROWS}[data-job-id='job_03']")
    expect(row).to_contain_text("At 02:00 AM")
    expect(row).to_contain_text("0 2 * * *")
    expect(row).to_contain_text("upstream failed")
    expect(row).to_contain_text("UTC")  # next run
    expect(row.locator("td").nth(5)).to_have_text("1")  # one dependency
    goto_jobs(page, f"{console.base}/jobs?q=job_04")
    expect(page.locator(f"{ROWS}[data-job-id='job_04'] .etl-badge-params")).to_have_text(
        "parameterized"
    )


def test_an_operator_bulk_dry_runs_three_jobs_and_sees_each_result(
    page: Page, console: Console, make_user: MakeUser
):
    seed_jobs()
    open_jobs(page, console, make_user("operator"), "/jobs?enabled=yes")
    picked = ["job_01", "job_02", "job_03"]
    for job_id in picked:
        page.get_by_role("checkbox", name=f"Select {job_id}").click()
    expect(page.locator("#bulk-count")).to_have_text("3 selected")
    # Admin-only controls are not there for an operator.
    expect(page.locator("#bulk-enable")).to_have_count(0)
    expect(page.locator("#bulk-disable")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile(r"^(Enable|Disable) job_"))).to_have_count(0)
    page.locator("#bulk-reason").fill("check the new source")
    page.locator("#bulk-dry-run").click()
    results = page.locator("#bulk-results li")
    expect(results).to_have_count(3)
    for job_id in picked:
        item = page.locator(f"#bulk-results li[data-job-id='{job_id}']")
        expect(item).to_have_attribute("data-outcome", "ok")
        expect(item).to_contain_text("dry run")
    expect(page.locator("#jobs-notice")).to_contain_text("Dry-run: 3 of 3 done")
    with session_scope() as session:
        made = session.exec(select(Run)).all()
    assert sorted(r.job_id for r in made) == picked
    assert all(r.dry_run and r.reason == "check the new source" for r in made)
    # A failing row is reported beside the others: a disabled job cannot run.
    goto_jobs(page, f"{console.base}/jobs?q=job_0")
    page.get_by_role("checkbox", name="Select job_00").click()
    page.get_by_role("checkbox", name="Select job_06").click()
    page.locator("#bulk-reason").fill("again")
    page.locator("#bulk-run").click()
    expect(page.locator("#bulk-results li[data-job-id='job_00']")).to_have_attribute(
        "data-outcome", "error"
    )
    expect(page.locator("#bulk-results li[data-job-id='job_00']")).to_contain_text("disabled")
    expect(page.locator("#bulk-results li[data-job-id='job_06']")).to_have_attribute(
        "data-outcome", "ok"
    )


def test_an_admin_disables_a_job_from_its_row_with_a_reason(
    page: Page, console: Console, make_user: MakeUser
):
    seed_jobs()
    open_jobs(page, console, make_user("admin"), "/jobs?q=job_01")
    page.get_by_role("button", name="Disable job_01").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Disable job_01")
    dialog.get_by_label("Reason").fill("source retired")
    dialog.get_by_role("button", name="Disable").click()
    expect(page.locator("#bulk-results li[data-job-id='job_01']")).to_contain_text("disabled")
    expect(page.get_by_role("button", name="Enable job_01")).to_be_visible()
    with session_scope() as session:
        job = session.get(Job, "job_01")
        assert job is not None
        assert not job.enabled


@pytest.mark.usefixtures("publishing")
def test_a_row_follows_its_jobs_runs_live(page: Page, console: Console, make_user: MakeUser):
    seed_jobs()
    open_jobs(page, console, make_user("viewer"), "/jobs?q=job_01")
    last = page.locator(f"{ROWS}[data-job-id='job_01'] .etl-job-last")
    expect(last).to_have_attribute("data-status", "succeeded")
    run_id = make_run("job_01")
    move(run_id, RunStatus.DISPATCHED, RunStatus.RUNNING)
    expect(last).to_have_attribute("data-active", "running", timeout=LIVE_TIMEOUT_MS)
    move(run_id, RunStatus.FAILED, error_excerpt="boom", duration_s=75.0)
    expect(last).to_have_attribute("data-status", "failed", timeout=LIVE_TIMEOUT_MS)
    expect(last).to_have_attribute("data-active", "")
    expect(last).to_contain_text("1 min 15 s")


def test_keyboard_alone_reaches_and_operates_a_row_action(
    page: Page, console: Console, make_user: MakeUser
):
    seed_jobs()
    open_jobs(page, console, make_user("operator"), "/jobs?q=job_02")
    expect(page.locator(ROWS)).to_have_count(1)
    page.locator("#jobs-search").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == "Dry-run job_02":
            break
    else:
        pytest.fail("Tab never reached the row's Dry-run button")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # a visible focus ring
    page.keyboard.press("Enter")
    expect(page.locator("#run-modal")).to_be_visible()
    expect(page.locator("#run-modal")).to_contain_text("job_02")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_jobs_table_has_no_serious_accessibility_violations(
    browser: Browser, console: Console, make_user: MakeUser, axe_script: Path, scheme: str
):
    seed_jobs()
    ctx = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})  # type: ignore[arg-type]
    page = ctx.new_page()
    open_jobs(page, console, make_user("admin"), f"/jobs?size={PAGE}")
    expect(page.locator(ROWS)).to_have_count(PAGE)
    page.get_by_role("checkbox", name="Select job_01").click()
    page.locator("#bulk-reason").fill("audit")
    page.locator("#bulk-dry-run").click()
    expect(page.locator("#bulk-results li")).to_have_count(1)
    # No scheduler runs here: the page says so.
    expect(page.locator("#jobs-scheduler")).to_contain_text("scheduler is offline")
    found: dict[str, Any] = {"table": serious_violations(page, axe_script)}
    goto_jobs(page, f"{console.base}/jobs?q=nothing-matches")
    expect(page.locator("#jobs-empty")).to_be_visible()
    found["empty"] = serious_violations(page, axe_script)
    ctx.close()
    assert found == {"table": [], "empty": []}, json.dumps(found, indent=1)


def test_on_a_phone_the_table_scrolls_inside_itself(
    browser: Browser, console: Console, make_user: MakeUser
):
    seed_jobs()
    ctx = browser.new_context(viewport={"width": 360, "height": 740})
    page = ctx.new_page()
    open_jobs(page, console, make_user("admin"), "/jobs")
    expect(page.locator(ROWS)).to_have_count(17)
    assert page.evaluate("document.documentElement.scrollWidth") == 360
    # Radix's table scrolls inside its own scroll area, within the page's width.
    table = page.locator("#jobs-table table")
    assert table.evaluate("el => el.getBoundingClientRect().width") > 360
    assert page.locator("#jobs-table").evaluate("el => el.getBoundingClientRect().width") <= 360
    ctx.close()
