"""What a manual trigger would do, read-only: its runs, the tables they write, how long, when.

The runs come from services.runs.plan_batch, the very function trigger() creates them with, so
the preview cannot drift from what Confirm then queues. Nothing here writes.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from etl_orchestrator.db import db_now
from etl_orchestrator.models import Run
from etl_orchestrator.services import runs, settings
from etl_orchestrator.states import HOLDS_SLOT, RunStatus

#: Expected duration: the median of a job's latest succeeded real runs, this many at most.
HISTORY_RUNS = 20


@dataclass
class PlannedRunView:
    """One run the trigger would create. `expected_s` is None without history."""

    job_id: str = ""
    name: str = ""
    status: str = ""
    held_by: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    expected_s: float | None = None
    history: int = 0


@dataclass
class Impact:
    job_id: str = ""
    dry_run: bool = False
    downstream: bool = False
    runs: list[PlannedRunView] = field(default_factory=list)
    #: Every table the batch declares it writes, sorted, once each.
    tables: list[str] = field(default_factory=list)
    #: Longest chain of expected durations through the batch; None when a run has no history.
    expected_total_s: float | None = None
    cap: int = 0
    active: int = 0
    #: Runs already queued (or due for a retry) that the dispatcher starts before the first run.
    queued_ahead: int = 0

    @property
    def free_slots(self) -> int:
        return max(self.cap - self.active, 0)


def expected_durations(session: Session, job_ids: list[str]) -> dict[str, tuple[float, int]]:
    """job -> (median duration in s, runs it is taken from) over its latest succeeded real runs."""
    found: dict[str, tuple[float, int]] = {}
    for job_id in sorted(set(job_ids)):
        durations = [
            float(d)
            for d in session.exec(
                select(Run.duration_s)
                .where(
                    col(Run.job_id) == job_id,
                    col(Run.status) == RunStatus.SUCCEEDED,
                    col(Run.dry_run).is_(False),
                    col(Run.duration_s).is_not(None),
                )
                .order_by(col(Run.ended_at).desc(), col(Run.run_id).desc())
                .limit(HISTORY_RUNS)
            )
            if d is not None
        ]
        if durations:
            found[job_id] = (statistics.median(durations), len(durations))
    return found


def _critical_path(planned: list[PlannedRunView]) -> float | None:
    """The longest chain of expected durations (runs are listed upstream first)."""
    finish: dict[str, float] = {}
    for run in planned:
        if run.expected_s is None:
            return None
        start = max((finish[up] for up in run.held_by if up in finish), default=0.0)
        finish[run.job_id] = start + run.expected_s
    return max(finish.values(), default=0.0)


def _upstream_first(planned: list[runs.PlannedRun]) -> list[runs.PlannedRun]:
    """Creation order with each run after the runs of its batch that hold it."""
    left = list(planned)
    done: set[str] = set()
    ordered: list[runs.PlannedRun] = []
    while left:
        ready = [p for p in left if all(up in done for up in p[1])] or left[:1]
        for item in ready:
            ordered.append(item)
            done.add(item[0].job_id)
            left.remove(item)
    return ordered


def queued_ahead(session: Session, priority: int) -> int:
    """Runs the dispatcher takes before a new run of this priority: higher or equal priority
    (an equal one was queued earlier) that are queued, or retrying and due."""
    now = db_now(session)
    count = session.exec(
        select(func.count())
        .select_from(Run)
        .where(
            or_(
                col(Run.status) == RunStatus.QUEUED,
                (col(Run.status) == RunStatus.RETRYING) & (col(Run.next_attempt_at) <= now),
            ),
            col(Run.priority) >= priority,
        )
    ).one()
    return int(count)


def active_runs(session: Session) -> int:
    """Runs holding a slot now (dispatched or running)."""
    count = session.exec(
        select(func.count()).select_from(Run).where(col(Run.status).in_(sorted(HOLDS_SLOT)))
    ).one()
    return int(count)


def preview(
    session: Session,
    *,
    job_id: str,
    downstream: bool = False,
    dry_run: bool = False,
    trigger: str = "manual",
) -> Impact:
    """The impact of triggering `job_id` now; TriggerError when it could not be triggered."""
    job = runs.runnable_job(session, job_id)
    planned = _upstream_first(
        runs.plan_batch(session, job, downstream=downstream, dry_run=dry_run, trigger=trigger)
    )
    history = expected_durations(session, [member.job_id for member, _ in planned])
    views = [
        PlannedRunView(
            job_id=member.job_id,
            name=member.name,
            status=RunStatus.WAITING if held_by else RunStatus.QUEUED,
            held_by=held_by,
            writes=list(member.writes),
            expected_s=history[member.job_id][0] if member.job_id in history else None,
            history=history[member.job_id][1] if member.job_id in history else 0,
        )
        for member, held_by in planned
    ]
    return Impact(
        job_id=job_id,
        dry_run=dry_run,
        downstream=downstream,
        runs=views,
        tables=sorted({table for view in views for table in view.writes}),
        expected_total_s=_critical_path(views),
        cap=settings.parallel_jobs(session),
        active=active_runs(session),
        queued_ahead=queued_ahead(session, job.priority),
    )
