"""The outbox on PostgreSQL and SQLite: one row per dedup key, claims, backoff, giving up."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from sqlmodel import select

from etl_orchestrator.alerts import outbox
from etl_orchestrator.alerts.message import NO_WORKERS, RUN_FAILED
from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Alert, Job, Run
from etl_orchestrator.services import runs
from etl_orchestrator.states import RunStatus, transition
from etl_orchestrator.timeutil import as_utc

pytestmark = pytest.mark.usefixtures("any_db")
POLICY = outbox.RetryPolicy(base_s=10.0, max_s=60.0, max_attempts=3)


def failed_run(*, dry_run: bool = False) -> int:
    with session_scope() as session:
        if session.get(Job, "load_sales") is None:
            session.add(Job(job_id="load_sales", name="load_sales"))
            session.flush()
        [run_id] = runs.trigger(
            session, job_id="load_sales", reason="test", audit_action=None, dry_run=dry_run
        ).run_ids
    for status in (RunStatus.DISPATCHED, RunStatus.RUNNING, RunStatus.FAILED):
        with session_scope() as session:
            run = session.get(Run, run_id)
            assert run is not None
            transition(session, run, status, detail=f"test: {status}")
    return run_id


def all_alerts() -> list[Alert]:
    with session_scope() as session:
        return list(session.exec(select(Alert).order_by(Alert.alert_id)).all())  # type: ignore[arg-type]


def test_a_failed_run_gets_one_alert_however_often_detection_runs() -> None:
    run_id = failed_run()
    for _ in range(3):
        with session_scope() as session:
            outbox.detect_run_failures(session, ["slack"], lookback_s=600)
    [alert] = all_alerts()
    assert (alert.kind, alert.run_id, alert.dedup_key) == (
        RUN_FAILED,
        run_id,
        f"run_failed:{run_id}",
    )
    assert alert.status == "pending"
    assert alert.channels["slack"]["status"] == "pending"


def test_a_failed_dry_run_raises_no_alert() -> None:
    failed_run(dry_run=True)
    with session_scope() as session:
        assert outbox.detect_run_failures(session, [], lookback_s=600) == []
    assert all_alerts() == []


def test_a_failure_older_than_the_lookback_raises_no_alert() -> None:
    failed_run()
    time.sleep(0.05)
    with session_scope() as session:
        assert outbox.detect_run_failures(session, [], lookback_s=0.01) == []
    assert all_alerts() == []


def test_without_destinations_the_alert_is_recorded_with_status_none() -> None:
    failed_run()
    with session_scope() as session:
        outbox.detect_run_failures(session, [], lookback_s=600)
    [alert] = all_alerts()
    assert alert.status == "none"


def test_a_claim_is_not_due_again_until_it_expires_and_a_failure_backs_off() -> None:
    failed_run()
    with session_scope() as session:
        outbox.detect_run_failures(session, ["slack", "email"], lookback_s=600)
    with session_scope() as session:
        claims = outbox.claim_due(session, claim_s=30)
    assert sorted(c.channel for c in claims) == ["email", "slack"]
    with session_scope() as session:
        assert outbox.claim_due(session, claim_s=30) == []  # claimed: nobody else sends it
    slack_claim = next(c for c in claims if c.channel == "slack")
    email_claim = next(c for c in claims if c.channel == "email")
    with session_scope() as session:
        assert outbox.record_outcome(session, email_claim, None, POLICY) == "sent"
        assert outbox.record_outcome(session, slack_claim, "HTTP 500: oops", POLICY) == "pending"
    [alert] = all_alerts()
    slack = alert.channels["slack"]
    assert (slack["attempts"], slack["last_error"]) == (1, "HTTP 500: oops")
    delay = (
        datetime.fromisoformat(slack["next_try_at"]) - as_utc(alert.created_at)
    ).total_seconds()
    assert 8 <= delay <= 12  # base 10 s, ±10 % jitter
    assert alert.status == "pending"
    assert alert.channels["email"]["status"] == "sent"


def test_a_destination_gives_up_after_the_last_attempt_and_the_alert_says_failed() -> None:
    failed_run()
    with session_scope() as session:
        outbox.detect_run_failures(session, ["slack"], lookback_s=600)
    with session_scope() as session:
        alert = session.exec(select(Alert)).one()
        alert.channels = {"slack": {**alert.channels["slack"], "attempts": POLICY.max_attempts - 1}}
        session.add(alert)
    with session_scope() as session:
        [claim] = outbox.claim_due(session, claim_s=30)
    with session_scope() as session:
        assert outbox.record_outcome(session, claim, "refused", POLICY) == "failed"
    [alert] = all_alerts()
    assert alert.status == "failed"
    assert alert.channels["slack"]["next_try_at"] is None


def test_one_open_systemic_alert_per_kind_and_a_new_one_after_it_resolves() -> None:
    def open_one() -> Alert | None:
        with session_scope() as session:
            return outbox.record(
                session, kind=NO_WORKERS, dedup_key=NO_WORKERS + outbox.OPEN_SUFFIX,
                message="no workers", dests=[],
            )  # fmt: skip

    assert open_one() is not None
    assert open_one() is None
    with session_scope() as session:
        assert outbox.resolve_open(session, NO_WORKERS, "Resolved.")
    assert open_one() is not None
    keys = [a.dedup_key for a in all_alerts()]
    assert keys == [f"{NO_WORKERS}:1", NO_WORKERS + outbox.OPEN_SUFFIX]
