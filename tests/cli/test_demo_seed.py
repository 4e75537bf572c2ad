"""`demo seed-scale` on PostgreSQL and SQLite: counts, an acyclic DAG, attempts, valid statuses."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from etl_orchestrator.cli import main
from etl_orchestrator.dag import find_cycle
from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, JobDependency, Run, RunAttempt, RunEvent, RunLog
from etl_orchestrator.services import job_queries
from etl_orchestrator.states import RunStatus

JOBS = 200
RUNS = 2000


def seed(*extra: str) -> int:
    return main(["demo", "seed-scale", "--jobs", str(JOBS), "--runs", str(RUNS), *extra])


def test_seed_scale_fills_a_consistent_database(
    any_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert seed("--seed", "3") == 0
    out = capsys.readouterr().out
    assert f"{JOBS} jobs" in out
    assert f"{RUNS} runs" in out
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(Job)).one() == JOBS
        assert session.exec(select(func.count()).select_from(Run)).one() == RUNS
        assert session.exec(select(func.count()).select_from(RunLog)).one() >= RUNS
        assert session.exec(select(func.count()).select_from(RunEvent)).one() >= RUNS
        deps = list(session.exec(select(JobDependency)))
        assert deps
        graph: dict[str, list[str]] = {}
        for dep in deps:
            graph.setdefault(dep.job_id, []).append(dep.upstream_job_id)
        assert find_cycle(graph) is None
        without_attempt = session.exec(
            select(func.count())
            .select_from(Run)
            .where(~select(RunAttempt).where(RunAttempt.run_id == Run.run_id).exists())
        ).one()
        assert without_attempt == 0
        statuses = set(session.exec(select(Run.status).distinct()))
        assert statuses <= {s.value for s in RunStatus}
        assert RunStatus.SUCCEEDED in statuses
        # The denormalised last_run_* fields follow each job's newest run.
        query = select(Run.job_id, func.max(Run.run_id)).group_by(col(Run.job_id))
        newest = {job_id: run_id for job_id, run_id in session.exec(query)}
        for job in session.exec(select(Job)):
            assert job.last_run_id == newest.get(job.job_id)
            if job.last_run_id is not None:
                run = session.get(Run, job.last_run_id)
                assert run is not None
                assert job.last_run_status == run.status
        page = job_queries.list_jobs(session, sort="last_run_duration_s", descending=True)
        assert len(page.jobs) == 50
        assert page.next_cursor is not None


def test_seed_scale_needs_replace_the_second_time(
    any_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert seed() == 0
    capsys.readouterr()
    assert seed() == 2
    assert "--replace" in capsys.readouterr().err
    assert seed("--replace", "--seed", "9") == 0
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(Job)).one() == JOBS
        assert session.exec(select(func.count()).select_from(Run)).one() == RUNS
        assert session.exec(select(func.count()).select_from(RunAttempt)).one() >= RUNS
