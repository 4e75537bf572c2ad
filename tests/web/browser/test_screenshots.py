"""The README's screenshots, taken from the built console in Chromium on the demo pipeline.

Each page is opened as an admin, must show its heading, and is saved under docs/screenshots/
(the README links them), so the guide's pictures are of the console as it is now.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.registry import load_jobs
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import Run
from etl_orchestrator.timeutil import utcnow
from tests.web.browser.support import LIVE_TIMEOUT_MS, ROOT, Console, Engine, make_run, sign_in
from tests.web.conftest import MakeUser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = ROOT / "docs" / "screenshots"
FINAL = {"succeeded", "failed", "cancelled", "upstream_failed"}
PIPELINE = "etl_orchestrator.examples.pipeline"


def wait_final(run_id: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with session_scope() as session:
            run = session.get(Run, run_id)
            if run is not None and run.status in FINAL:
                return
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish within {timeout_s:g} s")


def test_the_guides_screenshots_show_each_page(
    browser: Browser, console: Console, make_user: MakeUser, engine: Engine
) -> None:
    with session_scope() as session:
        sync_jobs(session, load_jobs([PIPELINE]), now=utcnow())
    # A real scheduler and worker, so the pages show a working system and a finished run.
    engine.start("scheduler")
    engine.start("worker")
    run_id = make_run("dim_date")
    wait_final(run_id)
    pages = {
        "overview": "/",
        "jobs": "/jobs",
        "job-dag": "/jobs/fct_sales?tab=dag",
        "run-drawer": f"/runs/{run_id}",
        "metrics": "/metrics-overview",
        "pipeline": "/dag/",
        "alerts": "/alerts",
        "freshness": "/freshness",
        "audit": "/audit",
        "settings": "/settings",
    }
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin = make_user("admin")
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    sign_in(page, console, admin)
    # The health banner clears once the live feed sees the scheduler and worker beating.
    page.get_by_role("button", name="Check again").click(timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_text("The system is degraded")).to_have_count(0, timeout=30_000)
    written: list[Path] = []
    for name, path in pages.items():
        page.goto(console.base + path)
        expect(page.locator("main h1").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        target = SHOTS / f"{name}.png"
        page.screenshot(path=str(target))
        written.append(target)
    context.close()
    phone = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = phone.new_page()
    sign_in(page, console, admin)
    page.goto(console.base + "/status")
    expect(page.locator("main h1").first).to_be_visible()
    page.screenshot(path=str(SHOTS / "status-phone.png"))
    written.append(SHOTS / "status-phone.png")
    phone.close()
    # A blank or error page compresses to almost nothing; a real page is tens of kilobytes.
    assert {p.name: p.stat().st_size > 15_000 for p in written} == {p.name: True for p in written}
