"""The metrics overview in Chromium: from a real Prometheus scraping the console, equal to the
database's figures; from the database when Prometheus stops; accessible in light and dark."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from playwright.sync_api import Browser, Page, expect

from etl_orchestrator.observability import figures as f
from etl_orchestrator.observability.grafana import PANELS
from etl_orchestrator.observability.metrics_report import cards, database_now, from_database
from tests.observability.conftest import add_finished_run
from tests.observability.prometheus_server import prometheus, wait_for
from tests.web.browser.conftest import GRAFANA_URL, METRICS_TOKEN
from tests.web.browser.support import LIVE_TIMEOUT_MS, Console, serious_violations, sign_in
from tests.web.conftest import MakeUser, Person

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAGE = "/metrics-overview"
#: Elements that stick out of the viewport on the right (the cause of a sideways scroll).
WIDER_THAN_THE_VIEWPORT = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' +
              Math.round(e.getBoundingClientRect().right)).slice(0, 12)"""
#: Prometheus needs a few scrapes before a figure shows; allow for a busy machine.
PROM_TIMEOUT_MS = 30_000


def history() -> None:
    """Jobs that exist before the first scrape (as synced jobs do), then a day of runs."""
    now = database_now()
    for job in ("dim_store", "load_sales"):
        add_finished_run(job, ended_at=now - timedelta(days=3))


def more_history() -> None:
    now = database_now()
    for minutes in (10, 70, 200):
        add_finished_run(
            "load_sales",
            ended_at=now - timedelta(minutes=minutes),
            duration_s=minutes / 2,
            records_written=1200,
            attempts=("transient", None),
        )
    add_finished_run("load_sales", "failed", attempts=("permanent",))
    add_finished_run("dim_store", duration_s=4, records_written=30)


def open_metrics(page: Page, console: Console, person: Person) -> None:
    # The production server answers the page at ".../metrics-overview/", so sign in on the
    # overview and then open the page.
    sign_in(page, console, person)
    page.goto(console.base + PAGE)
    expect(page.get_by_role("heading", name="Metrics", level=1)).to_be_visible()


def expect_figures(page: Page, panel: str, job: str | None) -> None:
    for card in cards(from_database(job, f.Window(end=database_now()))[0]):
        locator = page.locator(f"#{panel} [data-figure='{card.key}'] .etl-figure-value")
        expect(locator).to_have_text(card.value, timeout=LIVE_TIMEOUT_MS)


def expect_grafana(page: Page, panel: str, job: str) -> None:
    """Each trend links to its panel of the shipped dashboard and embeds it (anonymous mode)."""
    for figure in ("mean_duration_s", "success_rate", "throughput_per_h"):
        spark = page.locator(f"#{panel} [data-figure='{figure}']")
        href = spark.get_by_role("link", name="Open in Grafana").get_attribute("href") or ""
        where, query = href.split("?", 1)
        assert where == f"{GRAFANA_URL}/d/etl-orchestrator/etl-orchestrator"
        params = dict(parse_qsl(query))
        assert params["viewPanel"] == str(PANELS[figure])
        assert params["var-job"] == job
        assert int(params["to"]) - int(params["from"]) == 24 * 3600 * 1000
        frame = spark.locator("iframe.etl-grafana-embed")
        src = frame.get_attribute("src") or ""
        assert src.startswith(f"{GRAFANA_URL}/d-solo/etl-orchestrator/etl-orchestrator?")
        assert f"panelId={PANELS[figure]}" in src
        assert "auth_token" not in src


def test_the_metrics_page_shows_prometheus_figures_equal_to_the_database_then_falls_back(
    console: Console, page: Page, make_user: MakeUser, tmp_path: Path, prometheus_port: int
):
    target = console.base.removeprefix("http://")
    history()
    with prometheus(tmp_path, target, port=prometheus_port, token=METRICS_TOKEN) as base:
        wait_for(base, 'sum(etl_runs_finished_total{dry_run="false"})', want=2.0)
        more_history()
        wait_for(base, 'sum(etl_runs_finished_total{dry_run="false"})', want=7.0)

        open_metrics(page, console, make_user("viewer"))
        overview = page.locator("#all-metrics")
        expect(overview).to_have_attribute("data-source", "prometheus", timeout=PROM_TIMEOUT_MS)
        expect(overview).to_contain_text(f"Source: Prometheus (http://127.0.0.1:{prometheus_port})")
        expect_figures(page, "all-metrics", None)
        expect(overview.locator("svg.etl-sparkline")).to_have_count(3)
        expect_grafana(page, "all-metrics", "$__all")

        # The job panel (the job page's Metrics tab) reads the same source for one job.
        page.select_option("#metrics-job", "load_sales")
        page.click("#metrics-job-show")
        panel = page.locator("#job-metrics")
        expect(panel).to_have_attribute("data-source", "prometheus", timeout=PROM_TIMEOUT_MS)
        expect_figures(page, "job-metrics", "load_sales")
        expect_grafana(page, "job-metrics", "load_sales")

    # Prometheus has stopped: a refresh says so and shows the run history's figures.
    overview.get_by_role("button", name="Refresh").click()
    expect(overview).to_have_attribute("data-source", "database", timeout=PROM_TIMEOUT_MS)
    expect(overview).to_contain_text(
        "Prometheus unavailable — showing figures from the run history"
    )
    expect_figures(page, "all-metrics", None)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_metrics_page_passes_axe(
    console: Console, browser: Browser, make_user: MakeUser, axe_script: Path, scheme: str
):
    add_finished_run("load_sales", records_written=10)
    ctx = browser.new_context(color_scheme=scheme, viewport={"width": 360, "height": 740})  # type: ignore[arg-type]
    try:
        page = ctx.new_page()
        open_metrics(page, console, make_user("viewer"))
        expect(page.locator("#all-metrics")).to_have_attribute(
            "data-source", "database", timeout=PROM_TIMEOUT_MS
        )
        page.select_option("#metrics-job", "load_sales")
        page.click("#metrics-job-show")
        expect(page.locator("#job-metrics [data-figure='runs']")).to_be_visible(
            timeout=PROM_TIMEOUT_MS
        )
        assert serious_violations(page, axe_script) == []
        # Usable at 360 px: the frame never scrolls sideways.
        wide = page.evaluate(WIDER_THAN_THE_VIEWPORT)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), wide
    finally:
        ctx.close()
