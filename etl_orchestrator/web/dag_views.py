"""The dependency graph as the console draws it: nodes by topological level, edges, statuses.

Read from dw_etl_jobs / dw_etl_job_dependencies (declared jobs only) and the runs; the levels
come from `etl_orchestrator.dag`, computed over the whole pipeline, so a job sits at the same
level in the whole view and in any job's neighbourhood. No Reflex here.

A job's status is that of its newest real (not dry-run) run: an active run when it is newer
than the last finished one (the jobs table keeps the last finished run denormalised), else
the last finished run, else "never". A job is *blocked* when a `success` upstream's status is
failed, cancelled or upstream_failed (its next run cannot succeed until that upstream does),
or when its own run ended upstream_failed; `blocked_by` names those upstreams.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, col, select

from etl_orchestrator import dag
from etl_orchestrator.models import Job, JobDependency, Run
from etl_orchestrator.states import FINAL, RunStatus

NEVER = "never"
#: Longest job id the jobs table holds; anything longer cannot be a job.
MAX_JOB_ID = 128
#: An upstream in one of these states blocks its `success` dependents.
BLOCKING = frozenset({RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.UPSTREAM_FAILED})
#: How an upstream_failed run's detail names the upstreams that failed it (dispatch.py).
_DETAIL_PREFIXES = ("upstream failed: ", "wait timeout: ")
#: Listed rather than "not final", so the status index finds them in a long history.
_ACTIVE = sorted(str(status) for status in RunStatus if status not in FINAL)
#: Layout grid in React Flow units: one column per level, one row per job in a level.
COLUMN_W = 300
ROW_H = 96


@dataclass(frozen=True)
class JobState:
    """A job's newest real run as the graph shows it."""

    status: str = NEVER
    detail: str = ""
    run_id: int = 0


@dataclass
class DagNode:
    job_id: str = ""
    name: str = ""
    level: int = 0
    status: str = NEVER
    #: Upstreams that keep this job from succeeding, comma separated ("" when not blocked).
    blocked_by: str = ""
    enabled: bool = True
    x: int = 0
    y: int = 0
    #: The job whose neighbourhood is shown (none in the whole-pipeline view).
    focus: bool = False
    #: "stg_orders (success), dim_date (completion)", for the node's accessible description.
    upstreams: str = ""


@dataclass
class DagEdge:
    source: str = ""
    target: str = ""
    dep_type: str = "success"


@dataclass
class DagBand:
    """One topological level's column: where to draw its band and label."""

    level: int = 0
    x: int = 0
    top: int = 0
    bottom: int = 0
    count: int = 0


@dataclass
class DagGraph:
    nodes: list[DagNode] = field(default_factory=list)
    edges: list[DagEdge] = field(default_factory=list)
    bands: list[DagBand] = field(default_factory=list)
    #: Why there is nothing to draw ("" when there is a graph).
    problem: str = ""


@dataclass(frozen=True)
class Pipeline:
    """Every declared job with its upstream edges: job id -> [(upstream, dep_type)]."""

    names: dict[str, str]
    enabled: dict[str, bool]
    upstream: dict[str, list[tuple[str, str]]]

    def deps(self) -> dict[str, list[str]]:
        return {job: [up for up, _ in ups] for job, ups in self.upstream.items()}


def read_pipeline(session: Session) -> Pipeline:
    rows = session.exec(
        select(Job.job_id, Job.name, Job.enabled).where(col(Job.declared).is_(True))
    ).all()
    names = {job_id: name for job_id, name, _ in rows}
    enabled = {job_id: bool(on) for job_id, _, on in rows}
    upstream: dict[str, list[tuple[str, str]]] = {job_id: [] for job_id in names}
    for edge in session.exec(select(JobDependency)).all():
        if edge.job_id in names and edge.upstream_job_id in names:
            upstream[edge.job_id].append((edge.upstream_job_id, edge.dep_type))
    for ups in upstream.values():
        ups.sort()
    return Pipeline(names=names, enabled=enabled, upstream=upstream)


def read_states(session: Session) -> dict[str, JobState]:
    """The newest real run of every job that has one (two small queries, whatever the history)."""
    states = {
        job_id: JobState(status, "", run_id or 0)
        for job_id, status, run_id in session.exec(
            select(Job.job_id, Job.last_run_status, Job.last_run_id).where(
                col(Job.last_run_status).is_not(None)
            )
        ).all()
        if status
    }
    # Active runs are few and found through the status index; the newest per job wins.
    newest = (
        select(col(Run.job_id), func.max(Run.run_id).label("run_id"))
        .where(col(Run.status).in_(_ACTIVE), col(Run.dry_run).is_(False))
        .group_by(col(Run.job_id))
        .subquery()
    )
    active = session.exec(
        select(Run.job_id, Run.run_id, Run.status, Run.status_detail).join(
            newest, col(Run.run_id) == newest.c.run_id
        )
    ).all()
    for job_id, run_id, status, detail in active:
        if run_id is not None and run_id > states.get(job_id, JobState()).run_id:
            states[job_id] = JobState(status, detail, run_id)
    # The last finished run's detail (what failed it upstream) comes from its own row.
    finished = [s.run_id for s in states.values() if s.status == RunStatus.UPSTREAM_FAILED]
    if finished:
        details = dict(
            session.exec(
                select(Run.run_id, Run.status_detail).where(col(Run.run_id).in_(finished))
            ).all()
        )
        for job_id, state in list(states.items()):
            if state.run_id in details:
                states[job_id] = JobState(state.status, details[state.run_id], state.run_id)
    return states


def _named_in_detail(detail: str, upstreams: Iterable[str]) -> set[str]:
    for prefix in _DETAIL_PREFIXES:
        if detail.startswith(prefix):
            names = detail[len(prefix) :].split(" (", 1)[0].split(";", 1)[0]
            return {name.strip() for name in names.split(",")} & set(upstreams)
    return set()


def blocked_by(
    upstream: Mapping[str, list[tuple[str, str]]], states: Mapping[str, JobState]
) -> dict[str, list[str]]:
    """Each blocked job -> the upstreams that block it, sorted (see the module docstring)."""
    blocked: dict[str, list[str]] = {}
    for job_id, ups in upstream.items():
        by = {
            up
            for up, dep_type in ups
            if dep_type == "success" and states.get(up, JobState()).status in BLOCKING
        }
        own = states.get(job_id, JobState())
        if own.status == RunStatus.UPSTREAM_FAILED:
            by |= _named_in_detail(own.detail, (up for up, _ in ups))
            if not by:  # the run's detail did not say: every upstream that did not succeed
                by = {
                    up for up, _ in ups if states.get(up, JobState()).status != RunStatus.SUCCEEDED
                }
        if by:
            blocked[job_id] = sorted(by)
    return blocked


def live_statuses(
    pipeline: Pipeline, states: Mapping[str, JobState]
) -> tuple[dict[str, str], dict[str, str]]:
    """(job -> status, blocked job -> "x, y"): the small maps the graph merges as runs change."""
    statuses = {job_id: states.get(job_id, JobState()).status for job_id in pipeline.names}
    blocked = {job: ", ".join(by) for job, by in blocked_by(pipeline.upstream, states).items()}
    return statuses, blocked


def read_live_statuses(session: Session) -> tuple[dict[str, str], dict[str, str]]:
    return live_statuses(read_pipeline(session), read_states(session))


def layout(
    levels: Mapping[str, int], upstream: Mapping[str, list[tuple[str, str]]]
) -> tuple[dict[str, tuple[int, int]], list[DagBand]]:
    """x by level; within a level, jobs ordered by the mean row of their upstreams (fewer
    crossings), then by id, and centred on y = 0."""
    columns: dict[int, list[str]] = {}
    for job_id in sorted(levels):
        columns.setdefault(levels[job_id], []).append(job_id)
    row: dict[str, float] = {}
    positions: dict[str, tuple[int, int]] = {}
    bands: list[DagBand] = []
    for level in sorted(columns):
        jobs = columns[level]

        def centre(job_id: str) -> float:
            placed = [row[up] for up, _ in upstream.get(job_id, []) if up in row]
            return sum(placed) / len(placed) if placed else 0.0

        if level > 0:
            jobs = sorted(jobs, key=lambda job_id: (centre(job_id), job_id))
        offset = (len(jobs) - 1) / 2
        for index, job_id in enumerate(jobs):
            row[job_id] = index - offset
            positions[job_id] = (level * COLUMN_W, round((index - offset) * ROW_H))
        bands.append(DagBand(level=level, x=level * COLUMN_W, count=len(jobs)))
    # Every column spans the tallest one, so the level labels line up as column headings.
    top = min((y for _, y in positions.values()), default=0)
    bottom = max((y for _, y in positions.values()), default=0)
    for band in bands:
        band.top, band.bottom = top, bottom
    return positions, bands


def build_graph(
    pipeline: Pipeline, states: Mapping[str, JobState], job_id: str, *, whole: bool
) -> DagGraph:
    """The whole pipeline, or `job_id` with everything upstream and downstream of it."""
    if not whole and job_id not in pipeline.names:
        return DagGraph(problem=f"There is no declared job {job_id!r}.")
    deps = pipeline.deps()
    try:
        levels = dag.topological_levels(deps)
    except dag.CycleError as error:
        return DagGraph(problem=f"The dependencies form a cycle: {' → '.join(error.cycle)}.")
    if whole:
        shown = set(pipeline.names)
    else:
        shown = {job_id} | dag.upstream_closure(deps, [job_id])
        shown |= dag.downstream_closure(deps, [job_id])
    if not shown:
        return DagGraph(problem="No jobs are declared yet: run `etl-orchestrator jobs sync`.")
    upstream = {job: [(u, t) for u, t in pipeline.upstream[job] if u in shown] for job in shown}
    positions, bands = layout({job: levels[job] for job in shown}, upstream)
    blocked = blocked_by(pipeline.upstream, states)
    nodes = [
        DagNode(
            job_id=job,
            name=pipeline.names[job],
            level=levels[job],
            status=states.get(job, JobState()).status,
            blocked_by=", ".join(blocked.get(job, [])),
            enabled=pipeline.enabled[job],
            x=positions[job][0],
            y=positions[job][1],
            focus=not whole and job == job_id,
            upstreams=", ".join(f"{u} ({t})" for u, t in pipeline.upstream[job]),
        )
        for job in sorted(shown, key=lambda j: (levels[j], positions[j][1], j))
    ]
    edges = [
        DagEdge(source=up, target=job, dep_type=dep_type)
        for job in sorted(shown)
        for up, dep_type in upstream[job]
    ]
    return DagGraph(nodes=nodes, edges=edges, bands=bands)


def read_graph(session: Session, job_id: str, *, whole: bool) -> DagGraph:
    return build_graph(read_pipeline(session), read_states(session), job_id, whole=whole)
