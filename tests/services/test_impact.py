"""The impact preview of a manual trigger: the runs trigger() creates, tables, history, slots."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.registry import load_jobs
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import AuditEntry, Job, Run
from etl_orchestrator.services import impact, runs
from etl_orchestrator.states import RunStatus
from etl_orchestrator.timeutil import utcnow

PIPELINE = "etl_orchestrator.examples.pipeline"
#: fct_sales and the dependents without a cron of their own.
FCT_BATCH = {
    "fct_sales",
    "agg_daily_sales",
    "agg_customer_ltv",
    "agg_product_performance",
    "rpt_monthly_kpis",
}


@pytest.fixture
def demo(any_db: str) -> dict[str, JobSpec]:
    """The demo pipeline's jobs in dw_etl_jobs, as `jobs sync` puts them, on each backend."""
    specs = load_jobs([PIPELINE])
    with session_scope() as session:
        sync_jobs(session, specs, now=utcnow())
    return specs


def preview(job_id: str, **kwargs: Any) -> impact.Impact:
    with session_scope() as session:
        return impact.preview(session, job_id=job_id, **kwargs)


def past_run(
    job_id: str,
    status: str = RunStatus.SUCCEEDED,
    *,
    duration_s: float | None = None,
    dry_run: bool = False,
    priority: int = 0,
    ago_s: float = 60.0,
    **fields: Any,
) -> None:
    """A run row as the engine leaves it, written directly: history is all these tests need."""
    now = utcnow()
    with session_scope() as session:
        session.add(
            Run(
                job_id=job_id,
                batch_id=str(uuid.uuid4()),
                status=status,
                dry_run=dry_run,
                priority=priority,
                duration_s=duration_s,
                queued_at=now - timedelta(seconds=ago_s),
                ended_at=now - timedelta(seconds=ago_s) if duration_s is not None else None,
                **fields,
            )
        )


def created(job_id: str, specs: dict[str, JobSpec], **kwargs: Any) -> list[tuple[str, str]]:
    with session_scope() as session:
        result = runs.trigger(session, job_id=job_id, specs=specs, reason="t", **kwargs)
        return [(run.job_id, run.status) for run in result.runs]


def test_the_preview_lists_exactly_the_runs_trigger_then_creates(demo):
    found = preview("fct_sales", downstream=True)
    planned = sorted((run.job_id, run.status) for run in found.runs)
    assert {job for job, _ in planned} == FCT_BATCH
    assert planned == sorted(created("fct_sales", demo, downstream=True))


def test_the_preview_lists_upstreams_first_with_what_holds_each_run(demo):
    found = preview("fct_sales", downstream=True)
    order = [run.job_id for run in found.runs]
    assert order[0] == "fct_sales"
    assert order.index("rpt_monthly_kpis") > max(
        order.index("agg_daily_sales"), order.index("agg_customer_ltv")
    )
    held = {run.job_id: run.held_by for run in found.runs}
    assert held["fct_sales"] == []
    # dim_date is outside the batch: a manual batch does not wait for it.
    assert held["agg_daily_sales"] == ["fct_sales"]
    assert held["rpt_monthly_kpis"] == ["agg_customer_ltv", "agg_daily_sales"]


def test_without_downstream_only_the_job_itself_runs(demo):
    found = preview("fct_sales")
    assert [(run.job_id, run.status) for run in found.runs] == [("fct_sales", "queued")]
    assert found.tables == ["fct_sales"]


def test_the_tables_are_every_declared_write_of_the_batch_once(demo):
    found = preview("fct_sales", downstream=True)
    expected = sorted({table for job in FCT_BATCH for table in demo[job].writes})
    assert found.tables == expected
    by_job = {run.job_id: run.writes for run in found.runs}
    assert by_job["rpt_monthly_kpis"] == ["rpt_monthly_kpis"]


def test_a_dependent_with_its_own_cron_keeps_its_schedule_and_stays_out(demo):
    found = preview("extract_orders", downstream=True)
    assert [run.job_id for run in found.runs] == ["extract_orders", "stg_orders"]


def test_expected_duration_is_the_median_of_recent_succeeded_real_runs(demo):
    for seconds in (10.0, 30.0, 20.0):
        past_run("fct_sales", duration_s=seconds)
    past_run("fct_sales", RunStatus.FAILED, duration_s=500.0)
    past_run("fct_sales", duration_s=900.0, dry_run=True)
    found = preview("fct_sales", downstream=True)
    fct = next(run for run in found.runs if run.job_id == "fct_sales")
    assert (fct.expected_s, fct.history) == (20.0, 3)
    others = [run for run in found.runs if run.job_id != "fct_sales"]
    assert all(run.expected_s is None and run.history == 0 for run in others)
    assert found.expected_total_s is None  # some jobs have no history


def test_only_the_latest_runs_count_towards_the_expected_duration(demo):
    for index in range(impact.HISTORY_RUNS):
        past_run("agg_customer_ltv", duration_s=5.0, ago_s=100.0 + index)
    past_run("agg_customer_ltv", duration_s=1000.0, ago_s=10_000.0)
    [run] = preview("agg_customer_ltv").runs
    assert (run.expected_s, run.history) == (5.0, impact.HISTORY_RUNS)


def test_the_expected_total_follows_the_longest_chain_of_the_batch(demo):
    durations = {
        "fct_sales": 10.0,
        "agg_daily_sales": 5.0,
        "agg_customer_ltv": 20.0,
        "agg_product_performance": 1.0,
        "rpt_monthly_kpis": 2.0,
    }
    for job_id, seconds in durations.items():
        past_run(job_id, duration_s=seconds)
    found = preview("fct_sales", downstream=True)
    assert found.expected_total_s == 10.0 + 20.0 + 2.0


def test_free_slots_are_the_cap_minus_runs_dispatched_or_running(demo):
    past_run("extract_orders", RunStatus.RUNNING)
    past_run("extract_customers", RunStatus.DISPATCHED)
    past_run("extract_products", RunStatus.QUEUED)
    found = preview("fct_sales")
    assert (found.cap, found.active, found.free_slots) == (4, 2, 2)


def test_runs_queued_ahead_are_those_the_dispatcher_takes_first(demo):
    with session_scope() as session:
        job = session.get(Job, "fct_sales")
        assert job is not None
        job.priority = 5
    now = utcnow()
    past_run("extract_orders", RunStatus.QUEUED, priority=5)
    past_run("extract_orders", RunStatus.QUEUED, priority=9)
    past_run("extract_orders", RunStatus.QUEUED, priority=1)  # lower: behind ours
    past_run("extract_orders", RunStatus.WAITING, priority=9)  # not dispatchable yet
    past_run(
        "extract_orders", RunStatus.RETRYING, priority=9, next_attempt_at=now - timedelta(seconds=5)
    )
    past_run(
        "extract_orders", RunStatus.RETRYING, priority=9, next_attempt_at=now + timedelta(hours=1)
    )
    assert preview("fct_sales").queued_ahead == 3


@pytest.mark.parametrize(
    ("job_id", "kwargs", "message"),
    [
        ("fct_sale", {}, "unknown job 'fct_sale'"),
        ("quarantine_bad_rows", {}, "is disabled"),
    ],
)
def test_the_preview_refuses_what_trigger_would_refuse_with_the_same_words(
    demo, job_id, kwargs, message
):
    with pytest.raises(runs.TriggerError, match=message) as previewed:
        preview(job_id, **kwargs)
    with pytest.raises(runs.TriggerError) as triggered:
        created(job_id, demo, **kwargs)
    assert str(previewed.value) == str(triggered.value)


def test_a_dry_run_preview_names_the_jobs_that_cannot_be_dry_run(demo):
    with session_scope() as session:
        job = session.get(Job, "agg_product_performance")
        assert job is not None
        job.supports_dry_run = False
    with pytest.raises(runs.TriggerError, match="cannot dry-run: agg_product_performance"):
        preview("fct_sales", downstream=True, dry_run=True)
    assert [run.job_id for run in preview("fct_sales", dry_run=True).runs] == ["fct_sales"]


def test_the_preview_writes_nothing(demo):
    preview("fct_sales", downstream=True)
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(Run)).one() == 0
        assert session.exec(select(func.count()).select_from(AuditEntry)).one() == 1  # the sync
