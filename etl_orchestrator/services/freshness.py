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

from sqlalchemy import Table, func, true
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from etl_orchestrator.cron import CronError, next_fire_times
from etl_orchestrator.db import db_now, is_sqlite
from etl_orchestrator.models import Job, JobDependency, Run
from etl_orchestrator.states import RunStatus
from etl_orchestrator.timeutil import as_utc, iso

#: How long after a due tick a table may stay unrefreshed before it counts as late.
DEFAULT_GRACE = timedelta(minutes=30)
#: Successes looked at per job: a declared table that none of them wrote shows as never written.
LOOKBACK_RUNS = 10

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
    tables: tuple[str, ...]


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


RUNS: Table = Run.metadata.tables["dw_etl_runs"]
_WRITE_COLUMNS = (
    "run_id",
    "job_id",
    "ended_at",
    "scheduled_for",
    "records_written",
    "checksum",
    "affected_tables",
)


def _recent_successes(session: Session) -> dict[str, list[_Write]]:
    """Each job's newest LOOKBACK_RUNS succeeded real runs, newest first, in one query.

    PostgreSQL walks each job's runs backwards on ix_dw_etl_runs_job_history (a LATERAL
    subquery per job), so the cost follows the number of jobs, not of runs; SQLite (the embedded
    default, small) numbers the runs with a window function.
    """
    wanted = (col(Run.status) == RunStatus.SUCCEEDED, col(Run.dry_run).is_(False))
    fields = tuple(RUNS.c[name] for name in _WRITE_COLUMNS)
    if is_sqlite(session):
        numbered = (
            sa_select(
                *fields,
                func.row_number()
                .over(partition_by=col(Run.job_id), order_by=col(Run.run_id).desc())
                .label("n"),
            )
            .where(*wanted)
            .subquery()
        )
        query = sa_select(*(numbered.c[name] for name in _WRITE_COLUMNS)).where(
            numbered.c.n <= LOOKBACK_RUNS
        )
    else:
        per_job = (
            sa_select(*fields)
            .where(col(Run.job_id) == col(Job.job_id), *wanted)
            .order_by(col(Run.run_id).desc())
            .limit(LOOKBACK_RUNS)
            .lateral()
        )
        query = (
            sa_select(*(per_job.c[name] for name in _WRITE_COLUMNS))
            .select_from(Job)
            .join(per_job, true())
        )
    found: dict[str, list[_Write]] = {}
    for run_id, job_id, ended, tick, written, checksum, tables in session.execute(query):
        found.setdefault(job_id, []).append(
            _Write(run_id, job_id, ended, tick, written, checksum, tuple(tables or ()))
        )
    for writes in found.values():
        writes.sort(key=lambda w: w.run_id, reverse=True)
    return found


def _tables_of(write: _Write, declared: Sequence[str]) -> list[str]:
    return list(write.tables) if write.tables else list(declared)


def table_freshness(
    session: Session, *, now: datetime | None = None, grace: timedelta = DEFAULT_GRACE
) -> list[TableFreshness]:
    """Every written table, by name, with its last real write and lateness."""
    now = now or db_now(session)
    # Only the columns needed: whole job rows carry big JSON (configs, parameter schemas).
    jobs = session.execute(
        sa_select(
            col(Job.job_id), col(Job.writes), col(Job.cron), col(Job.timezone), col(Job.enabled)
        )
    ).all()
    declared = {job_id: list(writes or []) for job_id, writes, _, _, _ in jobs}
    crons: dict[str, Schedule | None] = {
        job_id: Schedule(job_id, cron, tz) if cron and enabled else None
        for job_id, _, cron, tz, enabled in jobs
    }
    upstreams: dict[str, list[str]] = {}
    for job_id, upstream in session.execute(
        sa_select(col(JobDependency.job_id), col(JobDependency.upstream_job_id))
    ):
        upstreams.setdefault(job_id, []).append(upstream)

    writers: dict[str, set[str]] = {}
    last: dict[str, _Write] = {}
    for job_id, tables in declared.items():
        for table in tables:
            writers.setdefault(table, set()).add(job_id)
    for job_id, writes in _recent_successes(session).items():
        # Newest first: a job's newest success names what it wrote; a declared table it did not
        # name takes the newest older success that did (within LOOKBACK_RUNS).
        pending = set(declared.get(job_id, []))
        for index, write in enumerate(writes):
            tables = _tables_of(write, declared.get(job_id, []))
            for table in tables if index == 0 else pending & set(tables):
                writers.setdefault(table, set()).add(job_id)
                current = last.get(table)
                if current is None or write.run_id > current.run_id:
                    last[table] = write
            pending -= set(tables)
            if not pending:
                break

    result: list[TableFreshness] = []
    for table in sorted(writers):
        last_write = last.get(table)
        schedules = sorted(
            {s for job_id in writers[table] for s in schedules_for(job_id, crons, upstreams)},
            key=lambda s: s.job_id,
        )
        tick = None
        if last_write is not None:
            tick = as_utc(last_write.scheduled_for or last_write.ended_at or now)
        state, due, detail = lateness(tick, schedules, as_utc(now), grace)
        row = TableFreshness(
            table=table,
            writers=sorted(writers[table]),
            state=state,
            due_at=iso(due) or "",
            detail=detail,
        )
        if last_write is not None:
            row.run_id = last_write.run_id
            row.job_id = last_write.job_id
            row.ended_at = iso(last_write.ended_at) or ""
            row.scheduled_for = iso(last_write.scheduled_for) or ""
            row.records_written = last_write.records_written
            if last_write.records_written is not None:
                row.records = f"{last_write.records_written:,}"
            row.checksum = last_write.checksum or ""
        result.append(row)
    return result
