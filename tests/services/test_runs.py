"""Which runs a trigger plans: the downstream walk, its pruning, and what holds each run."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select, update

from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.spec import JobSpec, make_spec
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import Job
from etl_orchestrator.services import runs
from etl_orchestrator.timeutil import utcnow


def noop(ctx: Any) -> None:
    """Never runs here: only the plan is looked at."""


def job(job_id: str, *upstreams: str, **kwargs: Any) -> JobSpec:
    return make_spec(
        id=job_id, name=job_id, kind="python", fn=noop, depends_on=list(upstreams), **kwargs
    )


@pytest.fixture
def graph(any_db: str) -> None:
    """root -> a -> b; a -> h <- c; root -> c (own cron) -> d; root -> e (disabled) -> f."""
    specs = [
        job("root"),
        job("a", "root"),
        job("b", "a"),
        job("c", "root", cron="0 3 * * *"),
        job("d", "c"),
        job("e", "root"),
        job("f", "e"),
        job("h", "a", "c"),
        job("unrelated"),
    ]
    with session_scope() as session:
        sync_jobs(session, {spec.id: spec for spec in specs}, now=utcnow())
        session.execute(update(Job).where(col(Job.job_id) == "e").values(enabled=False))


def plan(job_id: str, **kwargs: Any) -> dict[str, list[str]]:
    with session_scope() as session:
        root = session.exec(select(Job).where(col(Job.job_id) == job_id)).one()
        return {
            member.job_id: held_by
            for member, held_by in runs.plan_batch(session, root, dry_run=False, **kwargs)
        }


def test_downstream_takes_enabled_dependents_without_a_cron_and_only_what_they_reach(graph):
    assert plan("root", downstream=True) == {
        "root": [],
        "a": ["root"],
        "b": ["a"],
        # c has its own cron: it and what is reached only through it (d) keep to their schedule;
        # h is reached through a, and c (outside the batch) does not hold a manual run.
        "h": ["a"],
    }


def test_a_schedule_batch_is_also_held_by_upstreams_outside_it(graph):
    assert plan("root", downstream=True, trigger="schedule")["h"] == ["a", "c"]
    assert plan("d", downstream=False, trigger="schedule") == {"d": ["c"]}


def test_without_downstream_a_manual_run_is_alone_and_held_by_nothing(graph):
    assert plan("b", downstream=False) == {"b": []}
