"""Claims and outcomes of a worker's group of deliveries, in one transaction, each fenced alone."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.engine import recording
from etl_orchestrator.engine.dispatch import Dispatch, dispatch_pass
from etl_orchestrator.jobs.spec import RetryPolicy
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import Run, RunAttempt, RunEvent
from etl_orchestrator.services import run_actions
from etl_orchestrator.services import runs as run_service
from etl_orchestrator.timeutil import utcnow
from tests.engine.conftest import spec

pytestmark = pytest.mark.usefixtures("any_db")


def nothing(ctx: object) -> None:
    """Never runs here: the test plays the worker."""


def dispatched(*job_ids: str, max_attempts: int = 1) -> dict[str, Dispatch]:
    """Declare independent jobs, trigger one run of each and dispatch them all."""
    policy = RetryPolicy(max_attempts=max_attempts, base_s=1, factor=2, jitter=0)
    specs = {job_id: spec(job_id, nothing, retry=policy) for job_id in job_ids}
    with session_scope() as session:
        sync_jobs(session, specs, now=utcnow())
    with session_scope() as session:
        for job_id in job_ids:
            run_service.trigger(session, job_id=job_id, specs=specs, reason="test")
    with session_scope() as session:
        return {item.job_id: item for item in dispatch_pass(session).dispatched}


def delivery(item: Dispatch, token: str | None = None) -> recording.Delivery:
    return (item.run_id, item.attempt, token or item.token)


def status_of(run_id: int) -> str:
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run.status


def running_events(run_id: int) -> int:
    with session_scope() as session:
        query = select(RunEvent).where(RunEvent.run_id == run_id, RunEvent.to_status == "running")
        return len(list(session.exec(query)))


def test_a_group_claim_takes_each_current_delivery_once_and_drops_stale_ones() -> None:
    items = dispatched("a", "b", "c")
    a, b, c = items["a"], items["b"], items["c"]
    claims = recording.claim_many(
        [delivery(b), delivery(a), delivery(a), delivery(c, token="an-older-token")], "host:1"
    )
    assert [claim.run_id if claim else None for claim in claims] == [b.run_id, a.run_id, None, None]
    assert (status_of(a.run_id), status_of(b.run_id), status_of(c.run_id)) == (
        "running",
        "running",
        "dispatched",
    )
    assert running_events(a.run_id) == 1
    with session_scope() as session:
        attempts = {
            row.run_id: row
            for row in session.exec(
                select(RunAttempt).where(col(RunAttempt.run_id).in_([a.run_id, b.run_id, c.run_id]))
            )
        }
    assert attempts[a.run_id].worker == attempts[b.run_id].worker == "host:1"
    assert attempts[a.run_id].started_at is not None
    assert attempts[c.run_id].started_at is None
    assert attempts[c.run_id].worker is None


def test_a_group_of_outcomes_moves_each_run_on_by_its_own_outcome() -> None:
    items = dispatched("ok", "flaky", "broken", "gone", max_attempts=2)
    claims = recording.claim_many([delivery(item) for item in items.values()], "host:1")
    by_job = {claim.job_id: claim for claim in claims if claim is not None}
    assert len(by_job) == 4
    with session_scope() as session:
        run_actions.cancel_run(
            session, run_id=by_job["gone"].run_id, actor="alice", role="operator", reason="test"
        )
    transient = recording.Outcome(
        outcome="failed", error_class="transient", error_type="x.Timeout", error_message="slow"
    )
    permanent = recording.Outcome(
        outcome="failed", error_class="permanent", error_type="x.Bad", error_message="bad data"
    )
    statuses = recording.record_outcomes(
        [
            (by_job["ok"], recording.Outcome(outcome="succeeded")),
            (by_job["flaky"], transient),
            (by_job["broken"], permanent),
            (by_job["gone"], recording.Outcome(outcome="succeeded")),
        ]
    )
    assert statuses == ["succeeded", "retrying", "failed", "cancelled"]
    assert [status_of(by_job[job].run_id) for job in ("ok", "flaky", "broken", "gone")] == statuses
    with session_scope() as session:
        outcomes = {
            row.run_id: row.outcome
            for row in session.exec(
                select(RunAttempt).where(
                    col(RunAttempt.run_id).in_([claim.run_id for claim in by_job.values()])
                )
            )
        }
    assert outcomes == {
        by_job["ok"].run_id: "succeeded",
        by_job["flaky"].run_id: "failed",
        by_job["broken"].run_id: "failed",
        # The attempt says what happened; its run stays cancelled (asserted above).
        by_job["gone"].run_id: "succeeded",
    }
