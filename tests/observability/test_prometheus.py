"""A real Prometheus scrapes /metrics: its figures equal the database's for the same window,
and every PromQL expression of the shipped Grafana dashboard evaluates without error."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from etl_orchestrator import config
from etl_orchestrator.observability import figures as f
from etl_orchestrator.observability.metrics_report import (
    SOURCE_DATABASE,
    SOURCE_PROMETHEUS,
    database_now,
    from_database,
    from_prometheus,
    metrics_report,
)
from tests.observability.conftest import MakeRun
from tests.observability.prometheus_server import metrics_server, prometheus, query, wait_for

pytestmark = pytest.mark.slow
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "etl-orchestrator.json"
TOKEN = "scrape-secret"


@pytest.fixture
def scraped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("ETL_METRICS_TOKEN", TOKEN)
    monkeypatch.setenv("ETL_METRICS_CACHE_S", "0")
    config.get_settings.cache_clear()
    with metrics_server() as target, prometheus(tmp_path, target, token=TOKEN) as base:
        yield base


def history(finished_run: MakeRun) -> None:
    now = database_now()
    for minutes in (5, 30, 90):
        finished_run(
            "load_sales",
            ended_at=now - timedelta(minutes=minutes),
            duration_s=minutes,
            records_written=1000,
            attempts=("transient", None),
        )
    finished_run("load_sales", "failed", attempts=("permanent",))
    finished_run("dim_store", "succeeded", duration_s=7, records_written=50)
    finished_run("dim_store", "upstream_failed", attempts=())
    finished_run("dim_store", "succeeded", dry_run=True, records_written=10**6)


@pytest.mark.parametrize("job", [None, "load_sales"])
def test_prometheus_figures_equal_the_databases_for_the_same_window(
    scraped: str, finished_run: MakeRun, monkeypatch: pytest.MonkeyPatch, job: str | None
):
    # The jobs exist (with runs outside the window) before Prometheus' first scrape, as synced
    # jobs do: their series start at the old totals, not when the first run of the day ends.
    for job_id in ("dim_store", "load_sales"):
        finished_run(job_id, ended_at=database_now() - timedelta(days=3))
    wait_for(scraped, 'sum(etl_runs_finished_total{dry_run="false"})', want=2.0)
    history(finished_run)
    wait_for(scraped, 'sum(etl_runs_finished_total{dry_run="false"})', want=8.0)

    window = f.Window(end=database_now())
    prom_figures, prom_trend = from_prometheus(scraped, job, window)
    db_figures, _ = from_database(job, window)
    assert db_figures.runs == (4 if job else 6)
    assert prom_figures.runs == db_figures.runs
    assert prom_figures.failures == db_figures.failures == 1
    assert prom_figures.success_rate == pytest.approx(db_figures.success_rate)
    assert prom_figures.transient_rate == pytest.approx(db_figures.transient_rate)
    assert prom_figures.throughput_per_h == pytest.approx(db_figures.throughput_per_h)
    assert prom_figures.mean_duration_s == pytest.approx(db_figures.mean_duration_s)
    assert len(prom_trend.success_rate) == window.points

    monkeypatch.setenv("PROMETHEUS_URL", scraped)
    config.get_settings.cache_clear()
    report = metrics_report(job, now=window.end)
    assert report.source == SOURCE_PROMETHEUS
    assert "Prometheus" in report.source_text
    assert report.notice == ""


def test_without_prometheus_the_report_comes_from_the_database(
    finished_run: MakeRun, monkeypatch: pytest.MonkeyPatch
):
    finished_run("load_sales", records_written=10)
    monkeypatch.setenv("PROMETHEUS_URL", "http://127.0.0.1:9")  # nothing listens there
    config.get_settings.cache_clear()
    report = metrics_report(None)
    assert report.source == SOURCE_DATABASE
    assert report.notice.startswith("Prometheus unavailable — showing figures from the run history")
    assert {card.key: card.value for card in report.cards}["runs"] == "1"


GRAFANA_VARIABLES = {
    "$__rate_interval": "60s",
    "$__interval_ms": "60000",
    "$__interval": "60s",
    "$__range_s": "3600",
    "$__range": "3600s",
}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


@pytest.mark.parametrize("job", [".*", "load_sales"])
def test_every_dashboard_expression_evaluates_against_prometheus(
    scraped: str, finished_run: MakeRun, job: str
):
    finished_run("load_sales")
    wait_for(scraped, "sum(etl_runs_finished_total)", want=1.0)
    expressions = dashboard_expressions()
    assert len(expressions) >= 10
    for expr in expressions:
        text = expr.replace("$job", job)
        for name, value in GRAFANA_VARIABLES.items():
            text = text.replace(name, value)
        assert "$" not in text, text
        query(scraped, text)  # raises (HTTP 400) on a parse or evaluation error
    # The headline panels are the console's own formulas, defined once.
    assert f.promql("runs", "$job", "$__range") in expressions
    assert f.promql("failures", "$job", "$__range") in expressions
    for figure in ("success_rate", "transient_rate", "throughput_per_h", "mean_duration_s"):
        assert f.promql(figure, "$job", "$__interval") in expressions
    assert re.search(r"etl_queue_depth", " ".join(expressions))
