"""Drills: a worker and the active scheduler are killed with SIGKILL in the middle of runs."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from etl_orchestrator.alerts.message import SCHEDULER_FAILOVER
from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.reaper import LEASE_ENV
from etl_orchestrator.engine.scheduler import FAULT_NO_REAPER_ENV
from etl_orchestrator.models import Alert, AuditEntry, Run, RunAttempt
from etl_orchestrator.observability.health import check_health
from etl_orchestrator.services import runs as run_service
from etl_orchestrator.states import FINAL, RunStatus
from tests.drills.conftest import (
    CAP,
    EngineProcess,
    SlotWatch,
    a_worker_is_registered,
    executions,
    peak_overlap,
    statuses,
    wait_for,
)

pytestmark = pytest.mark.slow
Spawn = Callable[[str], EngineProcess]
NO_WORKERS = "No live workers"


def trigger(job_id: str, count: int, seconds: float) -> list[int]:
    run_ids: list[int] = []
    for _ in range(count):
        with session_scope() as session:
            result = run_service.trigger(
                session,
                job_id=job_id,
                params={"seconds": seconds},
                requested_by="drill",
                reason="process-kill drill",
            )
            run_ids += result.run_ids
    return run_ids


def trigger_audit_rows(run_count: int) -> None:
    """Every trigger kept its audit row through the drill."""
    with session_scope() as session:
        found = session.exec(
            select(func.count()).where(col(AuditEntry.action) == "run.trigger")
        ).one()
    assert found == run_count


def health_problems() -> list[str]:
    return check_health().problems


def kill_worker_mid_run(
    spawn: Spawn, tmp_path: Path, finish_within_s: float, job_id: str = "drill_nap_twice"
) -> int:
    """The drill itself: SIGKILL the worker running an attempt, start another, wait."""
    doomed = spawn("worker")
    spawn("scheduler")
    wait_for("the worker to register", a_worker_is_registered)
    [run_id] = trigger(job_id, 1, seconds=3.0)
    journal = tmp_path / "journal.txt"
    wait_for("the attempt to start", lambda: bool(executions(journal).get(run_id)))
    doomed.process.send_signal(signal.SIGKILL)
    doomed.process.wait()
    wait_for(
        "the health report to name the missing workers",
        lambda: any(NO_WORKERS in problem for problem in health_problems()),
        timeout_s=30,
    )
    spawn("worker")
    wait_for(
        "every run to finish",
        lambda: set(statuses([run_id]).values()) <= FINAL,
        timeout_s=finish_within_s,
    )
    return run_id


@pytest.mark.parametrize("job_id", ["drill_nap_twice", "drill_nap_twice_pooled"])
def test_a_worker_killed_mid_run_is_reaped_and_its_run_retried_once_elsewhere(
    spawn: Spawn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, job_id: str
) -> None:
    monkeypatch.setenv(LEASE_ENV, "8")
    run_id = kill_worker_mid_run(spawn, tmp_path, finish_within_s=40, job_id=job_id)

    with session_scope() as session:
        run = session.get(Run, run_id)
        attempts = session.exec(
            select(RunAttempt).where(RunAttempt.run_id == run_id).order_by(col(RunAttempt.attempt))
        ).all()
    assert run is not None
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)
    assert [a.outcome for a in attempts] == ["crashed", "succeeded"]
    # The killed attempt's child died with its worker: it never finished, nothing ran twice.
    assert [
        (event, attempt) for event, attempt, _ in executions(tmp_path / "journal.txt")[run_id]
    ] == [
        ("start", 1),
        ("start", 2),
        ("end", 2),
    ]
    trigger_audit_rows(1)
    wait_for(
        "the health report to recover by itself",
        lambda: not any(NO_WORKERS in problem for problem in health_problems()),
        timeout_s=20,
    )


def test_without_the_reaper_the_worker_kill_drill_fails(
    spawn: Spawn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drill can fail: with the test-only switch that disables the reaper, the run of the
    killed worker is never recovered and the drill's wait gives up."""
    monkeypatch.setenv(LEASE_ENV, "8")
    monkeypatch.setenv(FAULT_NO_REAPER_ENV, "1")
    with pytest.raises(AssertionError, match="every run to finish"):
        kill_worker_mid_run(spawn, tmp_path, finish_within_s=20)


def failover_alerts() -> int:
    with session_scope() as session:
        return int(
            session.exec(select(func.count()).where(col(Alert.kind) == SCHEDULER_FAILOVER)).one()
        )


def test_killing_the_active_scheduler_lets_the_standby_finish_every_run_once(
    spawn: Spawn, tmp_path: Path, slot_watch: SlotWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The standby tells that it took over from a dead leader (an alert the console lists).
    monkeypatch.setenv("ETL_ALERT_SCHEDULER_DEAD_S", "5")
    spawn("worker")
    leader = spawn("scheduler")
    wait_for("the worker to register", a_worker_is_registered)
    # The first scheduler leads once it has dispatched a run; only then does the standby start.
    warm_up = trigger("drill_nap", 1, seconds=0.1)
    wait_for("the leader to run a first job", lambda: set(statuses(warm_up).values()) <= FINAL)
    spawn("scheduler")
    run_ids = trigger("drill_nap", 2 * CAP, seconds=1.5)
    wait_for(
        "runs to be running under the first leader",
        lambda: RunStatus.RUNNING in set(statuses(run_ids).values()),
    )
    os.kill(leader.process.pid, signal.SIGKILL)
    leader.process.wait()

    every_run = warm_up + run_ids
    wait_for(
        "every run to finish",
        lambda: set(statuses(every_run).values()) <= FINAL,
        timeout_s=60,
    )
    assert set(statuses(every_run).values()) == {RunStatus.SUCCEEDED}
    journal = tmp_path / "journal.txt"
    assert {run_id: [e for e, _, _ in executions(journal)[run_id]] for run_id in every_run} == {
        run_id: ["start", "end"] for run_id in every_run
    }
    assert peak_overlap(journal) <= CAP
    assert slot_watch.peak <= CAP
    trigger_audit_rows(len(every_run))
    wait_for("the standby to raise the failover alert", lambda: failover_alerts() == 1, 30)
