"""Alerts in the browser: the link of a sent alert lands on its run after sign-in; the alerts
page lists it, hides failure alerts when an Admin turned them off, and passes axe."""

from __future__ import annotations

import asyncio
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from etl_orchestrator import config
from etl_orchestrator.alerts import outbox
from etl_orchestrator.alerts.message import SCHEDULER_UNHEALTHY
from etl_orchestrator.alerts.monitor import AlertConfig, AlertMonitor
from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Setting
from etl_orchestrator.services.settings import ALERTS_VISIBLE
from etl_orchestrator.states import RunStatus
from tests.alerts.conftest import SlackWebhook, slack  # noqa: F401  (fixture)
from tests.web.browser.support import (
    LIVE_TIMEOUT_MS,
    Console,
    make_run,
    move,
    serious_violations,
    sign_in,
)
from tests.web.conftest import MakeUser


class _Leader:
    """The scheduler as the monitor sees it: leading, its dispatcher passing."""

    def __init__(self) -> None:
        self.worker_id = "scheduler:browser-test:1"
        self.leading_since: float | None = time.monotonic()
        self.last_dispatch_pass: float | None = time.monotonic()
        self.redis_outages: list[tuple[datetime, float]] = []


def _failed_run() -> int:
    run_id = make_run()
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


def _alert_link(console: Console, hook: SlackWebhook, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fail a run and let the alert monitor send it; the link is the Slack button's URL."""
    monkeypatch.setenv("BASE_URL", console.base)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", hook.url)
    config.get_settings.cache_clear()
    run_id = _failed_run()
    monitor = AlertMonitor(_Leader(), config=AlertConfig(send_timeout_s=5))
    monitor.detect()
    # Playwright's sync API runs an event loop in this thread: deliver from another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, monitor.deliver()).result(timeout=30)
    assert len(hook.received) == 1
    [button] = next(b for b in hook.received[0]["blocks"] if b["type"] == "actions")["elements"]
    link = str(button["url"])
    assert link == f"{console.base}/runs/{run_id}"
    return link


def expect_run_page(page: Page, run_id: int) -> None:
    """The page shows run `run_id` (the run page today; the run drawer keeps these ids)."""
    expect(page.locator("#run-summary")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(rf"Run {run_id}\b"))).to_be_visible()


def test_the_link_of_a_failed_run_alert_lands_on_that_run_after_sign_in(
    page: Page,
    console: Console,
    make_user: MakeUser,
    slack: SlackWebhook,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    link = _alert_link(console, slack, monkeypatch)
    run_id = int(link.rsplit("/", 1)[1])
    sign_in(page, console, make_user("viewer"), path=link.removeprefix(console.base))
    expect_run_page(page, run_id)
    page.goto(console.base + "/alerts")
    row = page.locator("#alerts-table tbody tr").first
    expect(row).to_contain_text("Run failed")
    expect(row).to_contain_text(f"Run {run_id}")
    expect(row).to_contain_text("Slack: sent")
    row.get_by_role("link", name=f"Run {run_id}").click()
    expect_run_page(page, run_id)


def test_with_alerts_visible_off_the_page_hides_failure_alerts_and_says_why(
    page: Page,
    console: Console,
    make_user: MakeUser,
    slack: SlackWebhook,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _alert_link(console, slack, monkeypatch)
    with session_scope() as session:
        session.add(Setting(key=ALERTS_VISIBLE, value=False, updated_by="admin"))
    sign_in(page, console, make_user("viewer"))
    page.goto(console.base + "/alerts")
    expect(page.locator("#alerts-hidden-note")).to_contain_text("hidden")
    expect(page.locator("#alerts-table")).to_have_count(0)
    expect(page.get_by_text("No alerts.")).to_be_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_alerts_page_has_no_serious_accessibility_violations(
    browser: Browser,
    console: Console,
    make_user: MakeUser,
    axe_script: Path,
    slack: SlackWebhook,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    scheme: str,
) -> None:
    _alert_link(console, slack, monkeypatch)
    ctx = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})  # type: ignore[arg-type]
    page = ctx.new_page()
    sign_in(page, console, make_user("viewer"))
    page.goto(console.base + "/alerts")
    expect(page.locator("#alerts-table tbody tr")).to_have_count(1)
    found: dict[str, Any] = {"alerts": serious_violations(page, axe_script)}
    ctx.close()
    assert found == {"alerts": []}, json.dumps(found, indent=1)


@pytest.mark.usefixtures("publishing")
def test_with_alerts_visible_off_a_failure_is_announced_but_not_toasted(
    page: Page, console: Console, make_user: MakeUser
) -> None:
    with session_scope() as session:
        session.add(Setting(key=ALERTS_VISIBLE, value=False, updated_by="admin"))
    run_id = make_run()
    sign_in(page, console, make_user("viewer"))
    row = page.locator(f"#latest-runs tr[data-run-id='{run_id}']")
    expect(row).to_have_attribute("data-status", "queued")
    move(run_id, RunStatus.DISPATCHED, RunStatus.RUNNING, RunStatus.FAILED, error_excerpt="boom")
    expect(row).to_have_attribute("data-status", "failed", timeout=LIVE_TIMEOUT_MS)
    # The toast would have come in the same push as this announcement.
    expect(page.locator("#etl-announcer")).to_have_text(
        f"Run {run_id} of load_sales is now failed", timeout=LIVE_TIMEOUT_MS
    )
    expect(page.get_by_role("link", name=f"Run {run_id} of load_sales failed")).to_have_count(0)


def test_an_ongoing_systemic_alert_shows_in_the_health_banner(
    page: Page, console: Console, make_user: MakeUser
) -> None:
    with session_scope() as session:
        outbox.record(
            session,
            kind=SCHEDULER_UNHEALTHY,
            dedup_key=SCHEDULER_UNHEALTHY + outbox.OPEN_SUFFIX,
            message="The dispatcher completed no pass from 2026-01-01T00:00:00Z.",
            dests=[],
        )
    sign_in(page, console, make_user("viewer"))
    expect(page.locator("#etl-health-alert")).to_contain_text(
        "Scheduler unhealthy: The dispatcher completed no pass"
    )


def test_the_alerts_page_fits_a_360_pixel_wide_screen(
    browser: Browser,
    console: Console,
    make_user: MakeUser,
    slack: SlackWebhook,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _alert_link(console, slack, monkeypatch)
    ctx = browser.new_context(viewport={"width": 360, "height": 740})
    page = ctx.new_page()
    sign_in(page, console, make_user("viewer"))
    page.goto(console.base + "/alerts")
    expect(page.locator("#alerts-table tbody tr")).to_have_count(1)
    width = page.evaluate("document.documentElement.scrollWidth")
    ctx.close()
    assert width == 360
