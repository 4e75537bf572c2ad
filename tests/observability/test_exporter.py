"""The /metrics collector: its totals equal the database's, job labels are bounded."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Run
from etl_orchestrator.observability import exporter
from etl_orchestrator.observability.exporter import EngineCollector, build_registry
from tests.observability.conftest import MakeRun


def scrape(max_jobs: int = 50) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = build_registry(EngineCollector(cache_s=0, max_jobs=max_jobs))
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str):
    return samples[(name, frozenset(labels.items()))]


def test_run_totals_by_job_and_status_equal_the_database(finished_run: MakeRun):
    for _ in range(3):
        finished_run("load_sales", "succeeded", records_written=100, duration_s=4)
    finished_run("load_sales", "failed", attempts=("transient", "permanent"))
    finished_run("load_sales", "succeeded", dry_run=True, records_written=999)
    finished_run("dim_store", "cancelled")
    samples = scrape()
    finished = "etl_runs_finished_total"
    assert value(samples, finished, job_id="load_sales", status="succeeded", dry_run="false") == 3
    assert value(samples, finished, job_id="load_sales", status="failed", dry_run="false") == 1
    assert value(samples, finished, job_id="load_sales", status="succeeded", dry_run="true") == 1
    assert value(samples, finished, job_id="dim_store", status="cancelled", dry_run="false") == 1
    # Zero series exist before the first run of a status, so a window sees the first one.
    assert value(samples, finished, job_id="dim_store", status="failed", dry_run="false") == 0
    assert value(samples, "etl_records_written_total", job_id="load_sales", dry_run="false") == 300
    attempts = "etl_attempts_total"
    assert (
        value(samples, attempts, job_id="load_sales", dry_run="false", error_class="transient") == 1
    )
    assert (
        value(samples, attempts, job_id="load_sales", dry_run="false", error_class="permanent") == 1
    )
    assert value(samples, attempts, job_id="load_sales", dry_run="false", error_class="none") == 3


def test_duration_histogram_counts_succeeded_real_runs_in_buckets(finished_run: MakeRun):
    finished_run("load_sales", duration_s=3)
    finished_run("load_sales", duration_s=50)
    finished_run("load_sales", "failed", duration_s=2)
    samples = scrape()
    name = "etl_run_duration_seconds_bucket"
    assert value(samples, name, job_id="load_sales", dry_run="false", le="1.0") == 0
    assert value(samples, name, job_id="load_sales", dry_run="false", le="5.0") == 1
    assert value(samples, name, job_id="load_sales", dry_run="false", le="60.0") == 2
    assert value(samples, name, job_id="load_sales", dry_run="false", le="+Inf") == 2
    assert (
        value(samples, "etl_run_duration_seconds_sum", job_id="load_sales", dry_run="false") == 53
    )
    assert (
        value(samples, "etl_run_duration_seconds_count", job_id="load_sales", dry_run="false") == 2
    )


def test_jobs_beyond_the_bound_are_summed_under_other(finished_run: MakeRun):
    for job in ("a_job", "b_job", "c_job", "d_job"):
        finished_run(job)
    samples = scrape(max_jobs=2)
    jobs = {
        dict(labels).get("job_id") for name, labels in samples if name == "etl_runs_finished_total"
    }
    assert jobs == {"a_job", "b_job", "_other"}
    assert (
        value(
            samples, "etl_runs_finished_total", job_id="_other", status="succeeded", dry_run="false"
        )
        == 2
    )


def test_gauges_report_the_queue_and_the_cap(finished_run: MakeRun):
    samples = scrape()
    assert value(samples, "etl_parallel_jobs") == 4
    assert value(samples, "etl_queue_depth") == 0
    assert value(samples, "etl_runs_running") == 0
    assert value(samples, "etl_workers_alive") == 0
    assert value(samples, "etl_scheduler_up") == 0
    assert value(samples, "etl_metrics_up") == 1


def test_later_scrapes_read_only_unsettled_runs_and_still_equal_a_fresh_read(
    finished_run: MakeRun, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(exporter, "SETTLE_MARGIN", 0)  # settle everything final at once
    finished_run("load_sales", records_written=5)
    open_run = finished_run("load_sales", "queued")  # not final: stays in the re-read tail
    finished_run("load_sales", "failed")
    collector = EngineCollector(cache_s=0, max_jobs=50)
    registry = build_registry(collector)
    generate_latest(registry)
    assert collector._settled.below == open_run  # runs before the open one are settled
    with session_scope() as session:
        run = session.get(Run, open_run)
        assert run is not None
        run.status = "succeeded"
        run.records_written = 7
    newest = finished_run("load_sales", records_written=11)
    text = generate_latest(registry).decode()
    assert collector._settled.below == newest + 1
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith(("etl_runs_", "etl_records_", "etl_attempts_", "etl_run_duration"))
    }
    fresh = {key: v for key, v in scrape().items() if key in samples}
    assert samples == fresh
    succeeded = {"job_id": "load_sales", "status": "succeeded", "dry_run": "false"}
    assert value(samples, "etl_runs_finished_total", **succeeded) == 3
    assert value(samples, "etl_records_written_total", job_id="load_sales", dry_run="false") == 23
