"""The admin pages in Chromium: settings (confirmation, reason, effective time, admins only),
data freshness of the demo's tables, the audit's filters and export, the phone status page at
360x740, and axe in light and dark."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.registry import load_jobs
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import AuditEntry, Job, Run
from etl_orchestrator.services import audit, freshness, run_actions, runs, settings
from etl_orchestrator.states import RunStatus
from etl_orchestrator.timeutil import utcnow
from tests.web.browser.support import (
    LIVE_TIMEOUT_MS,
    Console,
    Engine,
    make_run,
    move,
    serious_violations,
    sign_in,
)
from tests.web.conftest import MakeUser, Person

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PIPELINE = "etl_orchestrator.examples.pipeline"
WIDTH = 360


def _demo_jobs() -> None:
    with session_scope() as session:
        sync_jobs(session, load_jobs([PIPELINE]), now=utcnow())


def _succeeded(job_id: str, *, dry_run: bool = False, **lineage: Any) -> int:
    """A run of `job_id` taken to `succeeded` with its lineage, as the worker records it."""
    run_id = make_run(job_id)
    if dry_run:
        with session_scope() as session:
            run = session.get(Run, run_id)
            assert run is not None
            run.dry_run = True
    move(
        run_id,
        RunStatus.DISPATCHED,
        RunStatus.RUNNING,
        RunStatus.SUCCEEDED,
        ended_at=utcnow(),
        **lineage,
    )
    return run_id


#: How long a full page load may take on a busy 2-core machine.
PAGE_LOAD_MS = 15_000


def open_as(page: Page, console: Console, person: Person, path: str) -> None:
    """Sign in, then open `path` (the built app answers /x as /x/, so not via sign-in's next)."""
    sign_in(page, console, person)
    page.goto(console.base + path)


def _shown_time(run_id: int) -> str:
    """The ended time of a run as the timestamp component writes it (UTC, to the second)."""
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        assert run.ended_at is not None
        return run.ended_at.strftime("%Y-%m-%d %H:%M:%S UTC")


def test_an_admin_changes_the_cap_with_confirmation_and_reason_and_sees_when_it_applied(
    page: Page, console: Console, make_user: MakeUser, engine: Engine
) -> None:
    open_as(page, console, make_user("admin", "ann"), "/settings")
    expect(page.locator("#cap-value")).to_have_text("4")
    page.fill("#cap-input", "2")
    page.fill("#cap-reason", "warehouse maintenance tonight")
    page.click("#cap-review")
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("From 4 to 2")
    expect(dialog).to_contain_text("warehouse maintenance tonight")
    dialog.locator("#cap-confirm").click()
    expect(page.locator("#settings-notice")).to_contain_text("Saved")
    expect(page.locator("#cap-value")).to_have_text("2")
    # No dispatcher yet: the page says the change waits for it.
    expect(page.locator("#cap-applied")).to_contain_text("Waiting for the dispatcher")
    engine.start("scheduler")
    expect(page.locator("#cap-applied")).to_contain_text(
        "Applied by the dispatcher at", timeout=30_000
    )
    expect(page.locator("#cap-applied time")).to_contain_text("UTC")
    history = page.locator("#settings-history")
    expect(history).to_contain_text("parallel_jobs")
    expect(history).to_contain_text("4 → 2")
    expect(history).to_contain_text("warehouse maintenance tonight")
    with session_scope() as session:
        assert settings.parallel_jobs(session) == 2
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.action == "settings.update")
        ).all()
        assert [(e.actor, e.outcome) for e in entries] == [("ann", "ok")]


def test_an_operator_sees_the_settings_but_no_control_to_change_them(
    page: Page, console: Console, make_user: MakeUser
) -> None:
    open_as(page, console, make_user("operator", "olly"), "/settings")
    expect(page.locator("#settings-read-only")).to_contain_text("only an admin can change them")
    expect(page.locator("#cap-value")).to_have_text("4")
    expect(page.locator("#alert-destinations")).to_contain_text("not configured")
    assert page.locator("#cap-form").count() == 0
    assert page.locator("#alerts-save").count() == 0


def test_freshness_shows_the_demo_tables_last_real_runs_and_a_dry_run_changes_nothing(
    page: Page, console: Console, make_user: MakeUser
) -> None:
    _demo_jobs()
    sales = _succeeded(
        "fct_sales", records_written=1234, affected_tables=["fct_sales"], checksum="c0ffee"
    )
    orders = _succeeded("stg_orders", records_written=77)  # no lineage: its declared table
    open_as(page, console, make_user("viewer", "vic"), "/freshness")
    table = page.locator("#freshness-table")
    row = table.locator("tr[data-table='fct_sales']")
    expect(row).to_contain_text("1,234")
    expect(row).to_contain_text("c0ffee")
    expect(row).to_contain_text(_shown_time(sales))
    expect(row.get_by_role("link", name=f"Run {sales}")).to_have_attribute("href", f"/runs/{sales}")
    expect(table.locator("tr[data-table='stg_orders']")).to_contain_text("77")
    # Every table a demo job declares is listed, written or not.
    with session_scope() as session:
        declared = {row.table for row in freshness.table_freshness(session)}
    assert {"raw_orders", "dim_customer", "agg_customer_ltv"} <= declared
    expect(table.locator("tbody tr")).to_have_count(len(declared))
    expect(table.locator("tr[data-table='dim_customer']")).to_contain_text("never written")
    before = table.inner_text()

    _succeeded("fct_sales", dry_run=True, records_written=999_999, affected_tables=["fct_sales"])
    _succeeded("dim_customer", dry_run=True, records_written=5)
    page.reload()
    expect(table.locator("tr[data-table='fct_sales']")).to_contain_text("1,234")
    assert table.inner_text() == before
    assert orders != sales


def test_the_audit_filters_pages_and_exports_what_it_shows(
    page: Page, console: Console, make_user: MakeUser
) -> None:
    with session_scope() as session:
        for i in range(3):
            audit.record(
                session, actor="ann", action="run.cancel", target=f"run {i} (load)", reason="x"
            )
        audit.record(session, actor="bob", action="settings.update", target="parallel_jobs")
    open_as(page, console, make_user("operator", "olly"), "/audit")
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(6)  # and adding the operator, and their sign-in
    page.select_option("#audit-action", "run.cancel")
    page.click("#audit-apply")
    expect(rows).to_have_count(3)
    expect(page.locator("#audit-table tr[data-action='settings.update']")).to_have_count(0)
    page.fill("#audit-actor", "bob")
    page.select_option("#audit-action", "")
    page.click("#audit-apply")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("parallel_jobs")
    page.fill("#audit-since", "not a date")
    page.click("#audit-apply")
    expect(page.locator("#audit-error")).to_contain_text("since must be a UTC date")
    page.fill("#audit-since", "")
    page.fill("#audit-actor", "ann")
    page.click("#audit-apply")
    expect(rows).to_have_count(3)
    href = page.locator("#audit-export").get_attribute("href")
    assert href is not None
    assert "actor=ann" in href
    response = page.request.get(console.base + href)
    assert response.status == 200
    exported = list(csv.DictReader(io.StringIO(response.text())))
    assert [(r["actor"], r["action"]) for r in exported] == [("ann", "run.cancel")] * 3


def test_a_viewer_is_told_the_audit_needs_the_operator_role(
    page: Page, console: Console, make_user: MakeUser
) -> None:
    open_as(page, console, make_user("viewer", "vic"), "/audit")
    expect(page.locator("#audit-refused")).to_contain_text("needs the operator role")
    assert page.locator("#audit-table").count() == 0


def _status_data() -> int:
    """A failed run of the last 24 h, a running one and the demo's cron jobs."""
    _demo_jobs()
    failed = make_run("fct_sales")
    move(
        failed,
        RunStatus.DISPATCHED,
        RunStatus.RUNNING,
        RunStatus.FAILED,
        ended_at=utcnow() - timedelta(hours=1),
        error_class="permanent",
    )
    running = make_run("stg_orders")
    move(running, RunStatus.DISPATCHED, RunStatus.RUNNING, started_at=utcnow())
    return failed


def test_status_fits_a_phone_and_every_admin_page_fits_360_pixels(
    browser: Browser, console: Console, make_user: MakeUser
) -> None:
    failed = _status_data()
    ctx = browser.new_context(viewport={"width": WIDTH, "height": 740})
    page = ctx.new_page()
    open_as(page, console, make_user("admin", "ann"), "/status")
    expect(page.locator("#status-failures")).to_contain_text(f"Run {failed}")
    expect(
        page.locator("#status-failures").get_by_role("link", name=f"Run {failed}")
    ).to_have_attribute("href", f"/runs/{failed}")
    expect(page.locator("#status-running")).to_contain_text("stg_orders")
    expect(page.locator("#status-upcoming li").first).to_be_visible()
    expect(page.locator("#status-health")).not_to_be_empty()
    widths = {"status": page.evaluate("document.documentElement.scrollWidth")}
    for name, path, ready in (
        ("settings", "/settings", "#cap-value"),
        ("audit", "/audit", "#audit-table"),
        ("freshness", "/freshness", "#freshness-table"),
    ):
        page.goto(console.base + path)
        # A full page load (new socket, on_load) can take longer than a live update here.
        expect(page.locator(ready)).to_be_visible(timeout=PAGE_LOAD_MS)
        widths[name] = page.evaluate("document.documentElement.scrollWidth")
    ctx.close()
    assert all(width <= WIDTH for width in widths.values()), widths


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_admin_pages_have_no_serious_accessibility_violations(
    browser: Browser, console: Console, make_user: MakeUser, axe_script: Path, scheme: str
) -> None:
    _status_data()
    ctx = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})  # type: ignore[arg-type]
    page = ctx.new_page()
    found: dict[str, Any] = {}
    open_as(page, console, make_user("admin", "ann"), "/settings")
    expect(page.locator("#cap-value")).to_have_text("4")
    found["settings"] = serious_violations(page, axe_script)
    page.fill("#cap-input", "3")
    page.fill("#cap-reason", "axe")
    page.click("#cap-review")
    expect(page.get_by_role("alertdialog")).to_be_visible()
    found["settings-confirm"] = serious_violations(page, axe_script)
    page.keyboard.press("Escape")
    for name, path, ready in (
        ("audit", "/audit", "#audit-table"),
        ("freshness", "/freshness", "#freshness-table"),
        ("status", "/status", "#status-failures"),
    ):
        page.goto(console.base + path)
        expect(page.locator(ready)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        found[name] = serious_violations(page, axe_script)
    ctx.close()
    assert all(not v for v in found.values()), json.dumps(found, indent=1)


def test_the_run_page_lists_the_runs_audit_entries(
    page: Page, console: Console, make_user: MakeUser
) -> None:
    person = make_user("operator", "olly")
    with session_scope() as session:
        session.add(Job(job_id="load_sales", name="load_sales"))
    with session_scope() as session:
        [run_id] = runs.trigger(
            session, job_id="load_sales", requested_by="olly", reason="late file"
        ).run_ids
    with session_scope() as session:
        run_actions.cancel_run(session, run_id=run_id, actor="olly", reason="wrong day")
    open_as(page, console, person, f"/runs/{run_id}")
    entries = page.locator("#run-audit li")
    expect(entries).to_have_count(2)
    expect(entries.nth(0)).to_contain_text("run.trigger")
    expect(entries.nth(0)).to_contain_text("late file")
    expect(entries.nth(1)).to_contain_text("run.cancel")
    expect(entries.nth(1)).to_contain_text("wrong day")
