"""The dependency graph's read model: levels, edges, statuses, blocked jobs and the layout."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import select

from etl_orchestrator import dag
from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.registry import load_jobs
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import Job, JobDependency, Run
from etl_orchestrator.states import RunStatus, transition
from etl_orchestrator.timeutil import utcnow
from etl_orchestrator.web import dag_views
from etl_orchestrator.web.dag_views import JobState, Pipeline

PIPELINE = "etl_orchestrator.examples.pipeline"
S = RunStatus
#: How each status is reached from queued.
PATHS: dict[str, tuple[RunStatus, ...]] = {
    "queued": (),
    "running": (S.DISPATCHED, S.RUNNING),
    "succeeded": (S.DISPATCHED, S.RUNNING, S.SUCCEEDED),
    "failed": (S.DISPATCHED, S.RUNNING, S.FAILED),
    "cancelled": (S.CANCELLED,),
    "upstream_failed": (S.UPSTREAM_FAILED,),
}

MakeRun = Callable[..., int]


@pytest.fixture
def demo(any_db: str) -> None:
    """The demo pipeline's jobs and dependencies, synced as `jobs sync` does."""
    with session_scope() as session:
        sync_jobs(session, load_jobs([PIPELINE]), now=utcnow())


@pytest.fixture
def make_run(demo: None) -> MakeRun:
    """A run of `job_id` moved to `status`; returns its id."""

    def make(job_id: str, status: str, *, detail: str = "", dry_run: bool = False) -> int:
        with session_scope() as session:
            run = Run(job_id=job_id, batch_id="b", dry_run=dry_run)
            session.add(run)
            session.flush()
            for step in PATHS[status]:
                transition(session, run, step, detail=detail if step == status else "")
            assert run.run_id is not None
            return run.run_id

    return make


def db_levels() -> dict[str, int]:
    """Topological levels from the tables, independently of the read model."""
    with session_scope() as session:
        jobs = session.exec(select(Job.job_id).where(Job.declared)).all()
        deps: dict[str, list[str]] = {job: [] for job in jobs}
        for edge in session.exec(select(JobDependency)).all():
            deps[edge.job_id].append(edge.upstream_job_id)
    return dag.topological_levels(deps)


def read(job_id: str = "", *, whole: bool = True) -> dag_views.DagGraph:
    with session_scope() as session:
        return dag_views.read_graph(session, job_id, whole=whole)


def test_the_whole_pipeline_shows_every_declared_job_at_its_topological_level(demo: None):
    graph = read()
    levels = db_levels()
    assert {node.job_id: node.level for node in graph.nodes} == levels
    assert max(levels.values()) >= 4  # the demo is deep enough to mean something
    assert not graph.problem


def test_the_edges_are_the_dependency_rows_with_their_types(demo: None):
    with session_scope() as session:
        rows = {
            (e.upstream_job_id, e.job_id, e.dep_type)
            for e in session.exec(select(JobDependency)).all()
        }
    assert {(e.source, e.target, e.dep_type) for e in read().edges} == rows
    assert rows


def test_a_job_shows_its_upstream_and_downstream_only_at_pipeline_levels(demo: None):
    graph = read("fct_sales", whole=False)
    shown = {node.job_id for node in graph.nodes}
    with session_scope() as session:
        pipeline = dag_views.read_pipeline(session)
    deps = pipeline.deps()
    expected = (
        {"fct_sales"}
        | dag.upstream_closure(deps, ["fct_sales"])
        | dag.downstream_closure(deps, ["fct_sales"])
    )
    assert shown == expected
    assert "flaky_inventory_sync" not in shown
    levels = db_levels()
    assert all(node.level == levels[node.job_id] for node in graph.nodes)
    assert [node.job_id for node in graph.nodes if node.focus] == ["fct_sales"]
    assert all(e.source in shown and e.target in shown for e in graph.edges)


def test_an_unknown_job_is_a_problem_not_an_empty_graph(demo: None):
    graph = read("no_such_job", whole=False)
    assert "no_such_job" in graph.problem
    assert graph.nodes == []


def test_jobs_no_longer_declared_are_left_out(demo: None):
    with session_scope() as session:
        session.add(Job(job_id="retired", name="retired", declared=False))
    assert "retired" not in {node.job_id for node in read().nodes}


def test_a_cycle_is_reported_instead_of_drawn():
    pipeline = Pipeline(
        names={"a": "a", "b": "b"},
        enabled={"a": True, "b": True},
        upstream={"a": [("b", "success")], "b": [("a", "success")]},
    )
    graph = dag_views.build_graph(pipeline, {}, "", whole=True)
    assert "cycle" in graph.problem
    assert graph.nodes == []


def test_a_job_shows_its_newest_real_run_status(make_run: MakeRun):
    make_run("extract_orders", "failed")
    make_run("extract_orders", "succeeded")
    make_run("extract_customers", "succeeded")
    make_run("extract_customers", "running")  # active and newer than the success
    make_run("extract_stores", "failed")
    make_run("extract_stores", "running", dry_run=True)  # a dry run is not the job's state
    status = {node.job_id: node.status for node in read().nodes}
    assert status["extract_orders"] == "succeeded"
    assert status["extract_customers"] == "running"
    assert status["extract_stores"] == "failed"
    assert status["extract_products"] == dag_views.NEVER


def test_a_failed_upstream_marks_its_success_dependents_blocked(make_run: MakeRun):
    make_run("extract_orders", "failed")
    nodes = {node.job_id: node for node in read().nodes}
    with session_scope() as session:
        dependents = [
            e.job_id
            for e in session.exec(
                select(JobDependency).where(JobDependency.upstream_job_id == "extract_orders")
            ).all()
            if e.dep_type == "success"
        ]
    assert dependents
    for job_id in dependents:
        assert "extract_orders" in nodes[job_id].blocked_by.split(", ")
    assert nodes["extract_orders"].blocked_by == ""
    assert nodes["extract_customers"].blocked_by == ""


def test_an_upstream_failed_run_is_blocked_by_the_upstream_its_detail_names(make_run: MakeRun):
    make_run("stg_orders", "succeeded")
    make_run("fct_sales", "upstream_failed", detail="upstream failed: stg_orders")
    nodes = {node.job_id: node for node in read().nodes}
    assert nodes["fct_sales"].blocked_by == "stg_orders"
    # ...and its own dependents are blocked by it in turn.
    assert "fct_sales" in nodes["agg_daily_sales"].blocked_by


def test_a_completion_dependency_is_not_blocked_by_a_failure():
    pipeline = Pipeline(
        names={"up": "up", "after": "after", "needs": "needs"},
        enabled=dict.fromkeys(("up", "after", "needs"), True),
        upstream={"up": [], "after": [("up", "completion")], "needs": [("up", "success")]},
    )
    states = {"up": JobState("failed", "", 1)}
    assert dag_views.blocked_by(pipeline.upstream, states) == {"needs": ["up"]}
    statuses, blocked = dag_views.live_statuses(pipeline, states)
    assert statuses == {"up": "failed", "after": "never", "needs": "never"}
    assert blocked == {"needs": "up"}


def test_the_live_maps_follow_run_changes(make_run: MakeRun):
    with session_scope() as session:
        before, _ = dag_views.read_live_statuses(session)
    assert set(before.values()) == {dag_views.NEVER}
    make_run("dim_date", "cancelled")
    with session_scope() as session:
        statuses, blocked = dag_views.read_live_statuses(session)
    assert statuses["dim_date"] == "cancelled"
    assert blocked["fct_sales"] == "dim_date"


def test_the_layout_puts_each_level_in_its_own_column_without_overlaps(demo: None):
    graph = read()
    for node in graph.nodes:
        assert node.x == node.level * dag_views.COLUMN_W
    rows = [(node.x, node.y) for node in graph.nodes]
    assert len(set(rows)) == len(rows)
    assert [band.level for band in graph.bands] == sorted({n.level for n in graph.nodes})
    assert sum(band.count for band in graph.bands) == len(graph.nodes)
    ys = [node.y for node in graph.nodes]
    for band in graph.bands:  # one height for every column, so the labels line up
        assert (band.top, band.bottom) == (min(ys), max(ys))
