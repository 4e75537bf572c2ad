"""Data freshness: each table the jobs write, its last successful real run, and whether it is late.

A table is known from the jobs' declared writes and from the lineage (affected_tables) their
successful runs recorded. Its last write is the newest succeeded, non-dry run of a job that wrote
it: a run that recorded lineage wrote exactly the tables it named; a run that recorded none is
taken to have written its job's declared tables. Dry runs change nothing, so they never count.

A table is late when one of its writers' schedules fired (plus a grace period) after the tick of
its last write without a newer success. A writer without a cron of its own runs in the batch of
its nearest upstream jobs that have one, so their schedules stand for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from etl_orchestrator.cron import CronError, next_fire_times
from etl_orchestrator.db import db_now
from etl_orchestrator.models import Job, JobDependency, Run
from etl_orchestrator.states import RunStatus
from etl_orchestrator.timeutil import as_utc, iso

#: How long after a due tick a table may stay unrefreshed before it counts as late.
DEFAULT_GRACE = timedelta(minutes=30)
#: Older successes looked at for a job whose newest success did not name a declared table.
LOOKBACK_RUNS = 50

#: Lateness words shown on the page (always as text, never by colour alone).
LATE, ON_TIME, NEVER, UNSCHEDULED = "late", "on time", "never written", "no schedule"


@dataclass(frozen=True)
class Schedule:
    job_id: str
    cron: str
    timezone: str


@dataclass
class TableFreshness:
    """One table; times are ISO 8601 UTC ("…Z") or "" when there is none."""

    table: str
    writers: list[str] = field(default_factory=list)
    run_id: int = 0
    job_id: str = ""
    ended_at: str = ""
    scheduled_for: str = ""
    records_written: int | None = None
    #: records_written for display ("12,345"), "" when unknown.
    records: str = ""
    checksum: str = ""
    #: LATE, ON_TIME, NEVER or UNSCHEDULED.
    state: str = UNSCHEDULED
    #: When the refresh was due (the first tick after the last write), "" without a schedule.
    due_at: str = ""
    detail: str = ""


@dataclass(frozen=True)
class _Write:
    run_id: int
    job_id: str
    ended_at: datetime | None
    scheduled_for: datetime | None
    records_written: int | None
    checksum: str | None


def schedules_for(
    job_id: str, crons: Mapping[str, Schedule | None], upstreams: Mapping[str, Sequence[str]]
) -> list[Schedule]:
    """The job's own schedule, else those of its nearest upstream jobs that have one."""
    found: list[Schedule] = []
    seen = {job_id}
    frontier = [job_id]
    while frontier:
        level: list[str] = []
        for current in frontier:
            own = crons.get(current)
            if own is not None:
                found.append(own)
                continue
            for up in upstreams.get(current, ()):
                if up not in seen:
                    seen.add(up)
                    level.append(up)
        if found:
            return sorted(set(found), key=lambda s: s.job_id)
        frontier = level
    return []


def lateness(
    last_tick: datetime | None,
    schedules: Iterable[Schedule],
    now: datetime,
    grace: timedelta = DEFAULT_GRACE,
) -> tuple[str, datetime | None, str]:
    """(state, the tick the refresh was due at, why) for a table last written for `last_tick`."""
    schedules = list(schedules)
    if not schedules:
        return (UNSCHEDULED if last_tick else NEVER), None, "no writer has a schedule"
    if last_tick is None:
        return NEVER, None, "no successful real run yet"
    due: list[tuple[datetime, str]] = []
    for schedule in schedules:
        try:
            [tick] = next_fire_times(schedule.cron, schedule.timezone, last_tick, count=1)
        except (CronError, ValueError):
            continue  # a job with a broken cron says so on its own page; it sets no deadline
        due.append((tick, schedule.job_id))
    if not due:
        return UNSCHEDULED, None, "no valid schedule"
    tick, job_id = min(due)
    if now > tick + grace:
        return LATE, tick, f"{job_id} was due at {iso(tick)} (grace {_minutes(grace)})"
    return ON_TIME, tick, f"next due at {iso(tick)} ({job_id})"


def _minutes(span: timedelta) -> str:
    return f"{int(span.total_seconds() // 60)} min"


def _newest_successes(session: Session) -> dict[str, Run]:
    """The newest succeeded real run of each job (one grouped query, then the rows by id)."""
    newest = session.execute(
        select(Run.job_id, func.max(Run.run_id))
        .where(
            col(Run.status) == RunStatus.SUCCEEDED,
            col(Run.dry_run).is_(False),
        )
        .group_by(col(Run.job_id))
    ).all()
    ids = [run_id for _, run_id in newest if run_id is not None]
    if not ids:
        return {}
    rows = session.exec(select(Run).where(col(Run.run_id).in_(ids)))
    return {run.job_id: run for run in rows}


def _older_successes(session: Session, job_id: str, before: int) -> list[Run]:
    query = (
        select(Run)
        .where(
            col(Run.job_id) == job_id,
            col(Run.run_id) < before,
            col(Run.status) == RunStatus.SUCCEEDED,
            col(Run.dry_run).is_(False),
        )
        .order_by(col(Run.run_id).desc())
        .limit(LOOKBACK_RUNS)
    )
    return list(session.exec(query))


def _tables_of(run: Run, declared: Sequence[str]) -> list[str]:
    return list(run.affected_tables) if run.affected_tables else list(declared)


def _write(run: Run) -> _Write:
    return _Write(
        run_id=run.run_id or 0,
        job_id=run.job_id,
        ended_at=run.ended_at,
        scheduled_for=run.scheduled_for,
        records_written=run.records_written,
        checksum=run.checksum,
    )


def table_freshness(
    session: Session, *, now: datetime | None = None, grace: timedelta = DEFAULT_GRACE
) -> list[TableFreshness]:
    """Every written table, by name, with its last real write and lateness."""
    now = now or db_now(session)
    jobs = list(session.exec(select(Job)))
    declared = {job.job_id: list(job.writes) for job in jobs}
    crons: dict[str, Schedule | None] = {job.job_id: None for job in jobs}
    for job in jobs:
        if job.cron and job.enabled:
            crons[job.job_id] = Schedule(job.job_id, job.cron, job.timezone)
    upstreams: dict[str, list[str]] = {}
    for dep in session.exec(select(JobDependency)):
        upstreams.setdefault(dep.job_id, []).append(dep.upstream_job_id)

    newest = _newest_successes(session)
    writers: dict[str, set[str]] = {}
    last: dict[str, _Write] = {}

    def note(table: str, run: Run) -> None:
        writers.setdefault(table, set()).add(run.job_id)
        current = last.get(table)
        if current is None or (run.run_id or 0) > current.run_id:
            last[table] = _write(run)

    for job_id, tables in declared.items():
        for table in tables:
            writers.setdefault(table, set()).add(job_id)
    for job_id, run in newest.items():
        for table in _tables_of(run, declared.get(job_id, [])):
            note(table, run)
        missing = set(declared.get(job_id, [])) - set(_tables_of(run, declared.get(job_id, [])))
        if missing:
            # The newest success named other tables: find when these were last written.
            for older in _older_successes(session, job_id, run.run_id or 0):
                hit = missing & set(_tables_of(older, declared.get(job_id, [])))
                for table in hit:
                    note(table, older)
                missing -= hit
                if not missing:
                    break

    result: list[TableFreshness] = []
    for table in sorted(writers):
        write = last.get(table)
        schedules = sorted(
            {s for job_id in writers[table] for s in schedules_for(job_id, crons, upstreams)},
            key=lambda s: s.job_id,
        )
        tick = None
        if write is not None:
            tick = as_utc(write.scheduled_for or write.ended_at or now)
        state, due, detail = lateness(tick, schedules, as_utc(now), grace)
        row = TableFreshness(
            table=table,
            writers=sorted(writers[table]),
            state=state,
            due_at=iso(due) or "",
            detail=detail,
        )
        if write is not None:
            row.run_id = write.run_id
            row.job_id = write.job_id
            row.ended_at = iso(write.ended_at) or ""
            row.scheduled_for = iso(write.scheduled_for) or ""
            row.records_written = write.records_written
            if write.records_written is not None:
                row.records = f"{write.records_written:,}"
            row.checksum = write.checksum or ""
        result.append(row)
    return result
