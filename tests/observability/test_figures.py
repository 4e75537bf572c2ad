"""The figures' SQL over the run history (PostgreSQL and SQLite) and their PromQL text."""

from __future__ import annotations

from datetime import timedelta

import pytest

from etl_orchestrator.db import session_scope
from etl_orchestrator.observability import figures as f
from etl_orchestrator.observability.metrics_report import database_now, from_database
from tests.observability.conftest import MakeRun


def test_figures_count_real_runs_that_ended_in_the_window(any_db: str, finished_run: MakeRun):
    now = database_now()
    finished_run("load_sales", ended_at=now - timedelta(hours=1), duration_s=10,
                 records_written=600, attempts=("transient", None))  # fmt: skip
    finished_run("load_sales", ended_at=now - timedelta(hours=2), duration_s=30,
                 records_written=1800)  # fmt: skip
    finished_run("load_sales", "failed", ended_at=now - timedelta(hours=3),
                 attempts=("transient", "transient", "permanent"))  # fmt: skip
    finished_run("load_sales", "cancelled", ended_at=now - timedelta(hours=4), attempts=())
    finished_run("load_sales", "succeeded", dry_run=True, records_written=10**6)
    finished_run("load_sales", ended_at=now - timedelta(hours=30), records_written=10**6)
    finished_run("dim_store", ended_at=now - timedelta(minutes=5), duration_s=2)

    figures, trend = from_database("load_sales", f.Window(end=now))
    assert figures.runs == 4
    assert figures.failures == 1
    assert figures.succeeded == 2
    assert figures.success_rate == pytest.approx(2 / 3)
    assert figures.transient_rate == pytest.approx(3 / 6)
    assert figures.throughput_per_h == pytest.approx(2400 / 24)
    assert figures.mean_duration_s == pytest.approx(20)
    # Hourly steps, oldest first: the run that ended 1 h ago is in the step before the last.
    assert trend.duration_s[-2] == pytest.approx(10)
    assert trend.success_rate[-1] is None
    assert trend.throughput_per_h[-2] == pytest.approx(600)

    everything, _ = from_database(None, f.Window(end=now))
    assert everything.runs == 5


def test_no_runs_gives_undefined_rates_not_zero(any_db: str):
    figures, trend = from_database(None, f.Window(end=database_now()))
    assert figures.runs == 0
    assert figures.success_rate is None
    assert figures.mean_duration_s is None
    assert figures.throughput_per_h == 0
    assert trend.success_rate == [None] * 24


def test_window_steps_end_at_the_window_end():
    with session_scope() as session:
        from etl_orchestrator.db import db_now

        now = db_now(session)
    window = f.Window(end=now, seconds=3600, points=4)
    assert window.edges() == [now - timedelta(minutes=45 - 15 * i) for i in range(4)]
    assert window.step_s == 900


def test_promql_matches_real_runs_of_one_job_or_a_grafana_variable():
    assert f.matcher("load_sales") == '{dry_run="false",job_id="load_sales"}'
    assert f.matcher("$job", status="failed") == '{dry_run="false",status="failed",job_id=~"$job"}'
    assert f.matcher('we"ird') == '{dry_run="false",job_id="we\\"ird"}'
    runs = f.promql("runs", None, "86400s")
    assert runs == (
        'sum(max_over_time(etl_runs_finished_total{dry_run="false"}[86400s])'
        ' - min_over_time(etl_runs_finished_total{dry_run="false"}[86400s]))'
    )
    assert f.promql("throughput_per_h", None, "7200s").endswith("* 3600 / 7200")
    assert f.promql("throughput_per_h", "$job", "$__range").endswith("/ $__range_s")
    with pytest.raises(ValueError):
        f.promql("median", None, "60s")
    with pytest.raises(ValueError):
        f.promql("throughput_per_h", None, "1h")


def test_prometheus_values_become_figures():
    assert f.number("NaN") is None
    assert f.number("+Inf") is None
    assert f.number("2.5") == 2.5
    figures = f.figures_from_values({"runs": 6.0000001, "success_rate": 0.5, "failures": None})
    assert (figures.runs, figures.failures, figures.success_rate) == (6, 0, 0.5)
