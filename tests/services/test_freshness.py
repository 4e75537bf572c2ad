"""Data freshness: each written table's last successful real run, and lateness by schedule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, JobDependency, Run
from etl_orchestrator.services import freshness
from etl_orchestrator.services.freshness import Schedule

NOW = datetime(2026, 5, 2, 12, 0, tzinfo=UTC)
MakeRun = Callable[..., int]


@pytest.fixture
def jobs(any_db: str) -> None:
    """extract (daily 02:00 UTC) writes raw; load (no cron, downstream) writes fact and dim."""
    with session_scope() as session:
        session.add_all(
            [
                Job(job_id="extract", name="extract", cron="0 2 * * *", writes=["raw"]),
                Job(job_id="load", name="load", writes=["fact", "dim"]),
            ]
        )
        session.flush()
        session.add(JobDependency(job_id="load", upstream_job_id="extract"))


@pytest.fixture
def make_run(jobs: None) -> MakeRun:
    def make(job_id: str, **fields: Any) -> int:
        fields.setdefault("batch_id", "b")
        fields.setdefault("status", "succeeded")
        fields.setdefault("scheduled_for", NOW - timedelta(hours=10))
        fields.setdefault("ended_at", fields["scheduled_for"] + timedelta(minutes=5))
        with session_scope() as session:
            run = Run(job_id=job_id, **fields)
            session.add(run)
            session.flush()
            assert run.run_id is not None
            return run.run_id

    return make


def tables() -> dict[str, freshness.TableFreshness]:
    with session_scope() as session:
        return {row.table: row for row in freshness.table_freshness(session, now=NOW)}


def test_every_declared_table_is_listed_even_before_any_run(jobs: None) -> None:
    found = tables()
    assert sorted(found) == ["dim", "fact", "raw"]
    assert all(row.run_id == 0 and row.state == freshness.NEVER for row in found.values())
    assert found["fact"].writers == ["load"]


def test_a_table_shows_its_newest_successful_real_run_with_count_and_checksum(
    make_run: MakeRun,
) -> None:
    make_run("extract", records_written=5, checksum="old")
    newest = make_run("extract", records_written=7, checksum="abc")
    make_run("extract", status="failed", records_written=9)
    make_run("extract", dry_run=True, records_written=11, checksum="dry")
    raw = tables()["raw"]
    assert (raw.run_id, raw.job_id) == (newest, "extract")
    assert (raw.records_written, raw.checksum) == (7, "abc")
    assert raw.ended_at == "2026-05-02T02:05:00Z"


def test_a_dry_run_changes_nothing(make_run: MakeRun) -> None:
    make_run("extract", records_written=7)
    before = tables()
    make_run("extract", dry_run=True, records_written=100, affected_tables=["raw", "extra"])
    assert tables() == before


def test_recorded_lineage_adds_tables_and_names_what_a_run_wrote(make_run: MakeRun) -> None:
    first = make_run("load", affected_tables=["fact", "dim"])
    second = make_run("load", affected_tables=["fact", "audit_log"])
    found = tables()
    assert sorted(found) == ["audit_log", "dim", "fact", "raw"]
    assert found["fact"].run_id == second
    assert found["audit_log"].run_id == second
    # The newest run did not write dim: its last write is the older run that did.
    assert found["dim"].run_id == first


def test_a_run_without_lineage_counts_for_its_jobs_declared_tables(make_run: MakeRun) -> None:
    run_id = make_run("load")
    found = tables()
    assert found["fact"].run_id == found["dim"].run_id == run_id


def test_lateness_against_the_writers_schedule(make_run: MakeRun) -> None:
    # Scheduled 02:00 today: the next tick is tomorrow 02:00, so at noon it is on time.
    make_run("extract", scheduled_for=datetime(2026, 5, 2, 2, 0, tzinfo=UTC))
    assert tables()["raw"].state == freshness.ON_TIME
    assert tables()["raw"].due_at == "2026-05-03T02:00:00Z"


def test_a_table_not_refreshed_since_a_tick_plus_grace_is_late(make_run: MakeRun) -> None:
    make_run("extract", scheduled_for=datetime(2026, 5, 1, 2, 0, tzinfo=UTC))
    raw = tables()["raw"]
    assert raw.state == freshness.LATE
    assert raw.due_at == "2026-05-02T02:00:00Z"
    assert "extract was due" in raw.detail


def test_a_downstream_job_without_cron_is_judged_by_its_upstream_schedule(
    make_run: MakeRun,
) -> None:
    make_run("load", scheduled_for=datetime(2026, 4, 30, 2, 0, tzinfo=UTC))
    assert tables()["fact"].state == freshness.LATE


def test_lateness_is_pure() -> None:
    daily = [Schedule("j", "0 2 * * *", "UTC")]
    tick = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
    grace = timedelta(minutes=30)
    assert freshness.lateness(tick, daily, datetime(2026, 5, 2, 2, 29, tzinfo=UTC), grace)[0] == (
        freshness.ON_TIME
    )
    assert freshness.lateness(tick, daily, datetime(2026, 5, 2, 2, 31, tzinfo=UTC), grace)[0] == (
        freshness.LATE
    )
    assert freshness.lateness(tick, [], NOW)[0] == freshness.UNSCHEDULED
    assert freshness.lateness(None, daily, NOW)[0] == freshness.NEVER


def test_schedules_for_walks_up_to_the_nearest_jobs_with_a_cron() -> None:
    crons = {"a": Schedule("a", "0 1 * * *", "UTC"), "b": None, "c": None, "d": None}
    upstreams = {"c": ["b"], "b": ["a"], "d": ["d"]}
    assert freshness.schedules_for("c", crons, upstreams) == [crons["a"]]
    assert freshness.schedules_for("a", crons, upstreams) == [crons["a"]]
    assert freshness.schedules_for("d", crons, upstreams) == []


def test_records_are_formatted_for_display(make_run: MakeRun) -> None:
    make_run("extract", records_written=1234567)
    assert tables()["raw"].records == "1,234,567"
    assert tables()["fact"].records == ""
