"""Cancel, retry and rerun in the database: allowed states, races, audit rows, cancel requests."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
import redis
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.engine import recording
from etl_orchestrator.engine.cancel import CANCEL_STREAM
from etl_orchestrator.engine.dispatch import dispatch_pass
from etl_orchestrator.jobs import PermanentError
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import AuditEntry, Run, RunAttempt, RunEvent
from etl_orchestrator.services import run_actions
from etl_orchestrator.services import runs as run_service
from etl_orchestrator.services.run_queries import UnknownRunError
from etl_orchestrator.states import RunStatus, transition
from etl_orchestrator.timeutil import utcnow
from tests.engine import conftest as engine_fixtures
from tests.engine.conftest import spec

S = RunStatus
engine = engine_fixtures.engine


class Window(BaseModel):
    days: int
    region: str = "eu"


def nothing(ctx: Any) -> None:
    """Never runs here: these tests move runs through their states by hand."""


def windowed(ctx: Any, p: Window) -> None:
    """Never runs here."""


@pytest.fixture
def specs() -> dict[str, JobSpec]:
    """a -> b -> c, a -> d, x -> d (d waits on both); w takes params."""
    declared = [
        spec("a", nothing),
        spec("b", nothing, depends_on=["a"]),
        spec("c", nothing, depends_on=["b"]),
        spec("x", nothing),
        spec("d", nothing, depends_on=["a", "x"]),
        spec("w", windowed, params=Window),
    ]
    by_id = {item.id: item for item in declared}
    with session_scope() as session:
        sync_jobs(session, by_id, now=utcnow())
    return by_id


Trigger = Callable[..., dict[str, int]]


@pytest.fixture
def trigger(specs: dict[str, JobSpec]) -> Trigger:
    """Trigger a batch; returns job id -> run id."""

    def make(job_id: str, **kwargs: Any) -> dict[str, int]:
        kwargs.setdefault("requested_by", "tester")
        kwargs.setdefault("reason", "test")
        with session_scope() as session:
            result = run_service.trigger(session, job_id=job_id, specs=specs, **kwargs)
            return {run.job_id: run.run_id or 0 for run in result.runs}

    return make


def advance(run_id: int, *statuses: RunStatus) -> None:
    for status in statuses:
        with session_scope() as session:
            run = session.get(Run, run_id)
            assert run is not None
            transition(session, run, status, detail="test")


def settle() -> None:
    with session_scope() as session:
        dispatch_pass(session)


def get(run_id: int) -> Run:
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def statuses(run_ids: dict[str, int]) -> dict[str, str]:
    return {job: get(run_id).status for job, run_id in run_ids.items()}


def audits(action: str) -> list[AuditEntry]:
    with session_scope() as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


def last_event(run_id: int) -> RunEvent:
    with session_scope() as session:
        return session.exec(
            select(RunEvent)
            .where(RunEvent.run_id == run_id)
            .order_by(col(RunEvent.event_id).desc())
        ).first()  # type: ignore[return-value]


def cancel(run_id: int, **kwargs: Any) -> Run:
    kwargs.setdefault("actor", "alice")
    kwargs.setdefault("role", "operator")
    kwargs.setdefault("reason", "wrong day")
    with session_scope() as session:
        return run_actions.cancel_run(session, run_id=run_id, **kwargs)


def retry(run_id: int, specs: dict[str, JobSpec], **kwargs: Any) -> run_actions.RetryResult:
    kwargs.setdefault("actor", "bob")
    kwargs.setdefault("reason", "source fixed")
    with session_scope() as session:
        return run_actions.retry_run(session, run_id=run_id, specs=specs, **kwargs)


def cancel_requests(redis_url: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(redis_url)
    try:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(CANCEL_STREAM)  # type: ignore[assignment]
        return [json.loads(fields[b"data"]) for _id, fields in entries]
    finally:
        client.close()


def test_a_queued_run_is_cancelled_at_once_with_who_and_why_in_its_event_and_the_audit(
    any_db, trigger
):
    run_id = trigger("a")["a"]
    run = cancel(run_id)
    assert run.status == "cancelled"
    assert get(run_id).ended_at is not None
    event = last_event(run_id)
    assert (event.from_status, event.to_status, event.actor) == ("queued", "cancelled", "alice")
    assert "wrong day" in event.detail
    [entry] = audits("run.cancel")
    assert (entry.actor, entry.role, entry.reason) == ("alice", "operator", "wrong day")
    assert entry.params["run_id"] == run_id
    assert entry.params["was"] == "queued"


def test_cancelling_a_waiting_run_marks_its_dependents_upstream_failed_on_the_next_pass(trigger):
    runs = trigger("a", downstream=True)
    cancel(runs["b"])
    settle()
    assert statuses(runs) == {
        "a": "dispatched",
        "b": "cancelled",
        "c": "upstream_failed",
        "d": "waiting",
    }
    assert "upstream failed: b" in get(runs["c"]).status_detail


def test_cancelling_a_retrying_run_cancels_it_without_a_worker(trigger):
    run_id = trigger("a")["a"]
    settle()
    advance(run_id, S.RUNNING, S.RETRYING)
    assert cancel(run_id).status == "cancelled"
    assert get(run_id).next_attempt_at is None


def test_cancelling_a_dispatched_run_closes_its_attempt_and_a_late_delivery_is_dropped(trigger):
    run_id = trigger("a")["a"]
    with session_scope() as session:
        [dispatch] = dispatch_pass(session).dispatched
    cancel(run_id)
    with session_scope() as session:
        attempt = session.get(RunAttempt, (run_id, 1))
        assert attempt is not None
        assert attempt.outcome == "cancelled"
        assert "before a worker started it" in (attempt.error_message or "")
    assert recording.claim(run_id, dispatch.attempt, dispatch.token, "late-worker") is None
    assert get(run_id).status == "cancelled"


def cancel_then_fail(run_id: int) -> None:
    with session_scope() as session:
        run_actions.cancel_run(session, run_id=run_id, actor="alice", reason="oops")
        raise RuntimeError("rolled back")


def test_cancelling_a_running_run_sends_a_cancel_request_only_once_committed(trigger, redis_db):
    run_id = trigger("a")["a"]
    with session_scope() as session:
        [dispatch] = dispatch_pass(session).dispatched
    assert recording.claim(run_id, dispatch.attempt, dispatch.token, "w1") is not None
    with pytest.raises(RuntimeError, match="rolled back"):
        cancel_then_fail(run_id)
    assert cancel_requests(redis_db) == []
    assert get(run_id).status == "running"
    cancel(run_id)
    assert cancel_requests(redis_db) == [
        {"run_id": run_id, "actor": "alice", "reason": "wrong day"}
    ]
    assert get(run_id).status == "cancelled"


def test_a_late_result_of_a_cancelled_attempt_does_not_change_the_run(trigger):
    run_id = trigger("a")["a"]
    with session_scope() as session:
        [dispatch] = dispatch_pass(session).dispatched
    claimed = recording.claim(run_id, dispatch.attempt, dispatch.token, "w1")
    assert claimed is not None
    cancel(run_id)
    status = recording.record_outcome(claimed, recording.Outcome(outcome="succeeded"))
    assert status == "cancelled"
    assert get(run_id).status == "cancelled"


@pytest.mark.parametrize("final", [S.SUCCEEDED, S.FAILED])
def test_a_finished_run_cannot_be_cancelled_and_nothing_is_written(trigger, final):
    run_id = trigger("a")["a"]
    settle()
    advance(run_id, S.RUNNING, final)
    with pytest.raises(run_actions.RunActionError, match=f"already finished as {final}"):
        cancel(run_id)
    assert audits("run.cancel") == []


def test_a_run_that_finishes_while_being_cancelled_is_reported_as_finished(trigger):
    run_id = trigger("a")["a"]
    settle()
    advance(run_id, S.RUNNING)
    with session_scope() as session:
        seen = session.get(Run, run_id)  # the operator's stale view: running
        assert seen is not None
        advance(run_id, S.SUCCEEDED)  # the worker records its result meanwhile
        with pytest.raises(run_actions.RunActionError, match="already finished as succeeded"):
            run_actions.cancel_run(session, run_id=run_id, actor="alice", reason="late")
    assert get(run_id).status == "succeeded"


def test_actions_need_a_reason_and_a_known_run(trigger, specs):
    run_id = trigger("a")["a"]
    with pytest.raises(run_actions.RunActionError, match="reason is required to cancel"):
        cancel(run_id, reason="  ")
    with pytest.raises(UnknownRunError, match="unknown run 999"):
        cancel(999)
    with pytest.raises(run_actions.RunActionError, match="reason is required to retry"):
        retry(run_id, specs, reason="")
    assert get(run_id).status == "queued"


def fail_root_of_batch(trigger: Trigger) -> dict[str, int]:
    """Batch a, b, c, d (d also needs x, not in the batch); a fails: b, c, d upstream_failed."""
    runs = trigger("a", downstream=True)
    settle()
    advance(runs["a"], S.RUNNING, S.FAILED)
    settle()
    return runs


def test_retrying_a_failed_run_queues_a_new_run_in_its_batch_and_requeues_its_dependents(
    any_db, trigger, specs
):
    runs = fail_root_of_batch(trigger)
    assert statuses(runs) == {
        "a": "failed",
        "b": "upstream_failed",
        "c": "upstream_failed",
        "d": "upstream_failed",
    }
    result = retry(runs["a"], specs)
    new = get(result.run.run_id or 0)
    old = get(runs["a"])
    assert (new.trigger, new.retry_of, new.batch_id) == ("retry", old.run_id, old.batch_id)
    assert (new.status, new.attempts, new.scheduled_for) == ("queued", 0, old.scheduled_for)
    assert new.requested_by == "bob"
    assert sorted(run.job_id for run in result.requeued) == ["b", "c", "d"]
    assert statuses(runs) == {"a": "failed", "b": "waiting", "c": "waiting", "d": "waiting"}
    assert "blocked by a" in get(runs["b"]).status_detail
    assert get(runs["b"]).ended_at is None
    [entry] = audits("run.retry")
    assert (entry.actor, entry.reason) == ("bob", "source fixed")
    assert entry.params["retry_run_id"] == new.run_id
    # The dispatcher now judges a by its newest run: the dependents keep waiting for it.
    settle()
    assert get(new.run_id or 0).status == "dispatched"
    assert statuses(runs) == {"a": "failed", "b": "waiting", "c": "waiting", "d": "waiting"}


def test_after_a_successful_retry_the_dependents_run_and_the_batch_completes(trigger, specs):
    runs = fail_root_of_batch(trigger)
    new_id = retry(runs["a"], specs).run.run_id or 0
    settle()
    advance(new_id, S.RUNNING, S.SUCCEEDED)
    settle()
    assert statuses(runs) == {"a": "failed", "b": "dispatched", "c": "waiting", "d": "dispatched"}
    for job in ("b", "d"):
        advance(runs[job], S.RUNNING, S.SUCCEEDED)
    settle()
    advance(runs["c"], S.RUNNING, S.SUCCEEDED)
    assert statuses(runs) == {"a": "failed", "b": "succeeded", "c": "succeeded", "d": "succeeded"}


def test_a_dependent_another_failed_upstream_still_condemns_stays_upstream_failed(trigger, specs):
    runs = trigger("a", downstream=True)
    with session_scope() as session:
        # d's other upstream x joins the batch and fails too.
        x = Run(job_id="x", batch_id=get(runs["a"]).batch_id, status="failed", max_attempts=1)
        session.add(x)
    settle()
    advance(runs["a"], S.RUNNING, S.FAILED)
    settle()
    result = retry(runs["a"], specs)
    assert sorted(run.job_id for run in result.requeued) == ["b", "c"]
    assert get(runs["d"]).status == "upstream_failed"


def test_a_cancelled_run_can_be_retried_too(trigger, specs):
    runs = trigger("a", downstream=True)
    cancel(runs["a"])
    settle()
    result = retry(runs["a"], specs)
    assert result.run.status == "queued"
    assert {run.job_id for run in result.requeued} == {"b", "c", "d"}


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ((), "is still queued; wait for it to finish or cancel it first"),
        ((S.RUNNING,), "is still running"),
        ((S.RUNNING, S.SUCCEEDED), "succeeded; to run it again use rerun"),
    ],
)
def test_only_failed_or_cancelled_runs_can_be_retried(trigger, specs, state, message):
    run_id = trigger("a")["a"]
    if state:
        settle()
        advance(run_id, *state)
    with pytest.raises(run_actions.RunActionError, match=message):
        retry(run_id, specs)
    assert audits("run.retry") == []


def test_an_upstream_failed_run_is_not_retried_but_its_failed_upstream_is_named(trigger, specs):
    runs = fail_root_of_batch(trigger)
    with pytest.raises(run_actions.RunActionError, match=r"never ran.*retry that run instead"):
        retry(runs["b"], specs)


def test_a_run_is_retried_once_then_its_retry_is_the_one_to_act_on(trigger, specs):
    runs = fail_root_of_batch(trigger)
    first = retry(runs["a"], specs).run.run_id
    with pytest.raises(run_actions.RunActionError, match=f"already retried as run {first}"):
        retry(runs["a"], specs)
    with session_scope() as session:
        count = session.exec(select(func.count()).select_from(Run).where(Run.job_id == "a")).one()
    assert count == 2


def test_a_retry_keeps_the_params_and_dry_run_of_the_run_it_replaces(trigger, specs):
    run_id = trigger("w", params={"days": 3}, dry_run=True)["w"]
    settle()
    advance(run_id, S.RUNNING, S.FAILED)
    new = retry(run_id, specs).run
    assert (new.params, new.dry_run) == ({"days": 3, "region": "eu"}, True)


def rerun(run_id: int, specs: dict[str, JobSpec], **kwargs: Any) -> run_service.TriggerResult:
    kwargs.setdefault("actor", "carol")
    kwargs.setdefault("reason", "redo after the fix")
    with session_scope() as session:
        return run_actions.rerun_run(session, run_id=run_id, specs=specs, **kwargs)


def test_rerun_queues_a_new_batch_with_the_old_params_and_scheduled_time(any_db, trigger, specs):
    run_id = trigger("w", params={"days": 3})["w"]
    settle()
    advance(run_id, S.RUNNING, S.SUCCEEDED)
    result = rerun(run_id, specs)
    [new] = result.runs
    old = get(run_id)
    assert new.batch_id != old.batch_id
    assert (new.trigger, new.params, new.scheduled_for) == ("rerun", old.params, old.scheduled_for)
    assert new.requested_by == "carol"
    [entry] = audits("run.rerun")
    assert entry.params["run_id"] == run_id
    assert entry.params["rerun_run_id"] == new.run_id
    assert entry.reason == "redo after the fix"
    assert [entry.target for entry in audits("run.trigger")] == ["w"]  # the first run only


def test_rerun_with_new_params_validates_them_and_writes_nothing_when_they_are_bad(trigger, specs):
    run_id = trigger("w", params={"days": 3})["w"]
    with pytest.raises(run_service.ParamsError) as bad:
        rerun(run_id, specs, params={"days": "many"})
    assert "days" in bad.value.errors
    assert audits("run.rerun") == []
    [new] = rerun(run_id, specs, params={"days": "5", "region": "us"}, dry_run=True).runs
    assert (new.params, new.dry_run) == ({"days": 5, "region": "us"}, True)


def test_rerun_with_downstream_reruns_the_dependents_too_in_one_new_batch(trigger, specs):
    run_id = trigger("a")["a"]
    result = rerun(run_id, specs, downstream=True, concurrency=2)
    created = {run.job_id: run for run in result.runs}
    assert set(created) == {"a", "b", "c", "d"}
    assert {run.trigger for run in result.runs} == {"rerun"}
    assert {run.concurrency_override for run in result.runs} == {2}
    assert (created["a"].status, created["d"].status_detail) == (S.QUEUED, "blocked by a")
    [entry] = audits("run.rerun")
    assert entry.params["rerun_run_id"] == created["a"].run_id
    assert sorted(entry.params["run_ids"]) == sorted(result.run_ids)
    assert (entry.params["downstream"], entry.params["concurrency"]) == (True, 2)


def fails_the_first_time(ctx: Any) -> None:
    if redis.Redis.from_url(os.environ["REDIS_URL"]).incr("tries") == 1:
        raise PermanentError("the source file is missing")


def succeeds(ctx: Any) -> None:
    """A dependent that runs once its upstream succeeded."""


@pytest.mark.slow
async def test_retrying_a_failed_run_on_the_engine_lets_its_whole_batch_complete(engine):
    engine.declare(
        spec("load", fails_the_first_time),
        spec("report", succeeds, depends_on=["load"]),
        spec("publish", succeeds, depends_on=["report"]),
    )
    await engine.start()
    run_ids = engine.trigger("load", downstream=True)
    first = await engine.wait_final(run_ids)
    assert sorted(run.status for run in first.values()) == [
        "failed",
        "upstream_failed",
        "upstream_failed",
    ]
    result = retry(run_ids[0], engine.specs)
    final = await engine.wait_final([*run_ids[1:], result.run.run_id or 0])
    assert {run.status for run in final.values()} == {"succeeded"}
    assert {run.batch_id for run in final.values()} == {result.batch_id}
