"""The job page's read models: the overview (cron, next runs, retry policy in words, parameter
schema), a keyset page of a job's runs, and a run's timeline and lineage for the drawer."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic import BaseModel, Field

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, Run, RunAttempt, RunEvent
from etl_orchestrator.timeutil import utcnow
from etl_orchestrator.web import job_views, snapshots


class Window(BaseModel):
    day: str = Field(description="The day to load", json_schema_extra={"format": "date"})
    regions: list[str] = Field(default_factory=lambda: ["eu"])
    full_refresh: bool = False
    limit: int | None = None


@pytest.mark.parametrize(
    ("policy", "text"),
    [
        ((4, 2.0, 2.0, 60.0, 0.2), "up to 4 attempts, 2 s × 2ⁿ, max 60 s, ±20% jitter"),  # noqa: RUF001
        ((5, 1.0, 2.0, 8.0, 0.1), "up to 5 attempts, 1 s × 2ⁿ, max 8 s, ±10% jitter"),  # noqa: RUF001
        ((3, 0.5, 3.0, 30.0, 0.0), "up to 3 attempts, 0.5 s × 3ⁿ, max 30 s"),  # noqa: RUF001
        ((1, 2.0, 2.0, 60.0, 0.2), "1 attempt, no retries"),
        ((3, 2.0, 0.5, 60.0, 0.2), "up to 3 attempts, base 2 s, factor 0.5, max 60 s, jitter 0.2"),
    ],
)
def test_the_retry_policy_is_put_in_words(policy: tuple[int, float, float, float, float], text):
    assert job_views.retry_policy_text(*policy) == text


def test_a_parameter_schema_becomes_one_row_per_parameter_required_first():
    rows = job_views.param_rows(Window.model_json_schema())
    assert [(r.name, r.type, r.required, r.default) for r in rows] == [
        ("day", "string (date)", True, "—"),
        ("full_refresh", "boolean", False, "false"),
        ("limit", "integer | null", False, "null"),
        ("regions", "array of string", False, "—"),
    ]
    assert rows[0].description == "The day to load"
    assert job_views.param_rows(None) == []


@pytest.fixture
def job() -> str:
    with session_scope() as session:
        session.add(
            Job(
                job_id="fct_sales",
                name="Sales facts",
                cron="0 2 * * *",
                timezone="UTC",
                max_attempts=4,
                params_schema=Window.model_json_schema(),
                reads=["stg_orders"],
                writes=["fct_sales"],
                timeout_s=90,
            )
        )
    return "fct_sales"


def add_run(job_id: str, **fields: object) -> int:
    with session_scope() as session:
        run = Run(job_id=job_id, batch_id="b", **fields)  # type: ignore[arg-type]
        session.add(run)
        session.flush()
        assert run.run_id is not None
        return run.run_id


def test_the_overview_has_the_schedule_next_runs_policy_and_previous_run(job: str):
    older = add_run(job, status="succeeded")
    newest = add_run(job, status="failed")
    with session_scope() as session:
        view = job_views.job_overview(session, job)
    assert view.found
    assert view.cron_text == "At 02:00 AM"
    assert len(view.next_runs) == job_views.NEXT_RUNS
    assert all(t.endswith("T02:00:00Z") for t in view.next_runs)
    assert view.next_runs == sorted(view.next_runs)
    assert view.retry_text.startswith("up to 4 attempts")
    assert view.timeout_text == "1 min 30 s"
    assert view.isolation_text == "a fresh process per attempt"
    assert (view.reads, view.writes) == (["stg_orders"], ["fct_sales"])
    assert [p.name for p in view.params] == ["day", "full_refresh", "limit", "regions"]
    assert (view.previous_run_id, view.previous_run_status) == (newest, "failed")
    assert newest > older
    config = json.loads(view.config_json)
    assert config["cron"] == "0 2 * * *"
    assert config["retry"]["max_attempts"] == 4


@pytest.mark.parametrize(
    ("config", "text"),
    [
        ({"isolation": "pooled"}, job_views.ISOLATION_TEXT["pooled"]),
        ({"sql": "SELECT 1", "isolation": "thread"}, job_views.ISOLATION_TEXT["thread"]),
        ({"sql": "SELECT 1"}, job_views.ISOLATION_TEXT["process"]),
    ],
)
def test_the_overview_says_where_attempts_run(config: dict[str, str], text: str):
    with session_scope() as session:
        session.add(Job(job_id="j", name="j", config=config))
    with session_scope() as session:
        assert job_views.job_overview(session, "j").isolation_text == text


def test_an_unknown_job_is_reported_not_found():
    with session_scope() as session:
        assert job_views.job_overview(session, "nope") == job_views.JobOverview(
            found=False, job_id="nope"
        )


def test_a_job_without_cron_has_no_next_runs(job: str):
    with session_scope() as session:
        session.add(Job(job_id="manual", name="manual"))
    with session_scope() as session:
        view = job_views.job_overview(session, "manual")
    assert view.next_runs == []
    assert view.cron_text == "No schedule: runs when triggered"
    assert view.retry_text == "up to 3 attempts, 2 s × 2ⁿ, max 60 s, ±20% jitter"  # noqa: RUF001


def test_runs_are_paged_newest_first_by_keyset(job: str):
    ids = [add_run(job, records_read=1000, error_excerpt="boom\nmore") for _ in range(5)]
    add_run_other = add_run  # another job's runs stay out
    with session_scope() as session:
        session.add(Job(job_id="other", name="other"))
    add_run_other("other")
    with session_scope() as session:
        first = job_views.job_runs(session, job, limit=2)
        assert [r.run_id for r in first.rows] == ids[::-1][:2]
        assert first.next_before == ids[3]
        second = job_views.job_runs(session, job, before=first.next_before, limit=2)
        third = job_views.job_runs(session, job, before=second.next_before, limit=2)
    assert [r.run_id for r in second.rows] == [ids[2], ids[1]]
    assert [r.run_id for r in third.rows] == [ids[0]]
    assert third.next_before is None
    row = first.rows[0]
    assert (row.records_read, row.records_written, row.error_excerpt) == ("1,000", "—", "boom")
    assert row.attempts == "0 of 3"


def test_the_drawer_summary_has_the_timeline_with_backoff_waits_attempts_and_lineage(job: str):
    start = utcnow() - timedelta(minutes=1)
    run_id = add_run(
        job,
        status="succeeded",
        attempts=2,
        records_read=10,
        records_written=7,
        affected_tables=["fct_sales"],
        checksum="abc",
        params={"day": "2024-05-01"},
        requested_by="ana",
        reason="late file",
    )
    steps = [
        (None, "queued", 0, 0.0),
        ("queued", "dispatched", 1, 1.0),
        ("dispatched", "running", 1, 2.0),
        ("running", "retrying", 1, 3.0),
        ("retrying", "dispatched", 2, 5.5),
        ("dispatched", "running", 2, 6.0),
        ("running", "succeeded", 2, 7.0),
    ]
    with session_scope() as session:
        for old, new, attempt, at in steps:
            session.add(
                RunEvent(
                    run_id=run_id,
                    from_status=old,
                    to_status=new,
                    attempt=attempt,
                    ts=start + timedelta(seconds=at),
                )
            )
        session.add(
            RunAttempt(
                run_id=run_id,
                attempt=1,
                token="t1",
                outcome="failed",
                error_class="transient",
                error_type="TransientError",
                error_message="timed out",
                traceback="Traceback (most recent call last):\n  ...",
            )
        )
        session.add(RunAttempt(run_id=run_id, attempt=2, token="t2", outcome="succeeded"))
    with session_scope() as session:
        summary = snapshots.run_summary(session, run_id)
    assert [e.to_status for e in summary.timeline] == [s[1] for s in steps]
    assert [e.wait for e in summary.timeline if e.wait] == ["waited 2.5 s"]
    first = summary.attempt_rows[0]
    assert (first.error_class, first.error_type, first.error_message) == (
        "transient",
        "TransientError",
        "timed out",
    )
    assert first.traceback.startswith("Traceback")
    assert (summary.records_read, summary.records_written, summary.checksum) == ("10", "7", "abc")
    assert summary.affected_tables == ["fct_sales"]
    assert json.loads(summary.params_json) == {"day": "2024-05-01"}
    assert (summary.can_retry, summary.can_cancel) == (False, False)


@pytest.mark.parametrize(
    ("status", "retry", "cancel"),
    [("failed", True, False), ("cancelled", True, False), ("running", False, True)],
)
def test_the_drawer_offers_retry_for_failed_and_cancel_for_active_runs(
    job: str, status: str, retry: bool, cancel: bool
):
    run_id = add_run(job, status=status)
    with session_scope() as session:
        summary = snapshots.run_summary(session, run_id)
    assert (summary.can_retry, summary.can_cancel) == (retry, cancel)


def test_a_retry_still_waiting_says_so(job: str):
    run_id = add_run(job, status="retrying")
    with session_scope() as session:
        session.add(RunEvent(run_id=run_id, from_status="running", to_status="retrying"))
    with session_scope() as session:
        [event] = snapshots.run_summary(session, run_id).timeline
    assert event.wait == "waiting (backoff)"
