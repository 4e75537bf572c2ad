"""What the console shows: 24 h counts by status, the latest runs, slot use and one run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, Run, RunAttempt
from etl_orchestrator.timeutil import utcnow
from etl_orchestrator.web import snapshots


@pytest.fixture
def add_run(any_db: str):
    with session_scope() as session:
        session.add(Job(job_id="load", name="load"))

    def add(status: str = "queued", age: timedelta = timedelta(0), **fields) -> int:
        with session_scope() as session:
            run = Run(
                job_id="load", batch_id="b", status=status, queued_at=utcnow() - age, **fields
            )
            session.add(run)
            session.flush()
            assert run.run_id is not None
            return run.run_id

    return add


def test_the_overview_counts_the_last_24_hours_by_status_in_a_fixed_order(add_run):
    add_run("succeeded")
    add_run("succeeded")
    add_run("failed")
    add_run("running")
    add_run("succeeded", age=timedelta(hours=25))
    with session_scope() as session:
        overview = snapshots.overview(session)
    counts = {c.status: c.count for c in overview.counts}
    assert [c.status for c in overview.counts] == [str(s) for s in snapshots.STATUS_ORDER]
    assert counts["succeeded"] == 2
    assert counts["failed"] == 1
    assert counts["running"] == 1
    assert counts["queued"] == 0


def test_the_overview_lists_the_newest_runs_first_and_at_most_twenty(add_run):
    ids = [add_run() for _ in range(snapshots.LATEST_RUNS + 3)]
    with session_scope() as session:
        latest = snapshots.overview(session).latest
    assert [row.run_id for row in latest] == sorted(ids, reverse=True)[: snapshots.LATEST_RUNS]
    assert latest[0].queued_at.endswith("Z")


def test_slot_use_counts_dispatched_and_running_runs_against_the_cap(add_run):
    add_run("dispatched")
    add_run("running")
    add_run("queued")
    add_run("retrying")
    with session_scope() as session:
        overview = snapshots.overview(session)
    assert (overview.running, overview.cap) == (2, 4)


def test_a_run_summary_has_its_attempts_in_order_and_utc_times(add_run):
    started = utcnow()
    run_id = add_run(
        "failed",
        started_at=started,
        ended_at=started + timedelta(seconds=90),
        duration_s=90.0,
        error_class="permanent",
        error_excerpt="x" * (snapshots.EXCERPT_CHARS + 10),
        attempts=2,
    )
    with session_scope() as session:
        for attempt in (2, 1):
            session.add(
                RunAttempt(
                    run_id=run_id,
                    attempt=attempt,
                    token=f"t{attempt}",
                    outcome="failed",
                    error_type="ValueError",
                    error_message=f"bad {attempt}",
                )
            )
    with session_scope() as session:
        summary = snapshots.run_summary(session, run_id)
    assert summary.found
    assert (summary.status, summary.duration, summary.attempts) == ("failed", "1 min 30 s", 2)
    assert summary.started_at.endswith("Z")
    assert summary.error_excerpt.endswith(" …")
    assert len(summary.error_excerpt) == snapshots.EXCERPT_CHARS + 2
    assert [(a.attempt, a.error) for a in summary.attempt_rows] == [
        (1, "ValueError: bad 1"),
        (2, "ValueError: bad 2"),
    ]


def test_an_unknown_run_is_reported_not_found(add_run):
    with session_scope() as session:
        assert snapshots.run_summary(session, 999) == snapshots.RunSummary(found=False, run_id=999)


def test_runnable_jobs_are_the_enabled_declared_ones(any_db: str):
    with session_scope() as session:
        session.add_all(
            [
                Job(job_id="b", name="b"),
                Job(job_id="a", name="a"),
                Job(job_id="off", name="off", enabled=False),
                Job(job_id="gone", name="gone", declared=False),
            ]
        )
    with session_scope() as session:
        assert snapshots.runnable_jobs(session) == ["a", "b"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, ""),
        (0.85, "850 ms"),
        (12.34, "12.3 s"),
        (245, "4 min 05 s"),
        (7620, "2 h 07 min"),
    ],
)
def test_format_duration(seconds: float | None, text: str):
    assert snapshots.format_duration(seconds) == text


def test_requesters_names_who_asked_for_each_existing_run(add_run):
    mine, theirs = add_run(requested_by="ana"), add_run(requested_by="bo")
    with session_scope() as session:
        assert snapshots.requesters(session, {mine, theirs, 999_999}) == {mine: "ana", theirs: "bo"}
        assert snapshots.requesters(session, set()) == {}
