"""Read-side queries about jobs: keyset pages of the jobs table, sorted, filtered and searched."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    cast,
    func,
    literal,
    or_,
    text,
    true,
    tuple_,
    type_coerce,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col, select

from etl_orchestrator.db import db_time_ago
from etl_orchestrator.models import Job, JobDependency, Run, RunAttempt
from etl_orchestrator.states import FINAL, RunStatus
from etl_orchestrator.timeutil import as_utc

MAX_PAGE = 1000

SORTS: dict[str, Any] = {
    "job_id": col(Job.job_id),
    "name": col(Job.name),
    "next_run_at": col(Job.next_run_at),
    "last_run_status": col(Job.last_run_status),
    "last_run_duration_s": col(Job.last_run_duration_s),
    "priority": col(Job.priority),
}

#: Sort keys that are never NULL: a cursor saying otherwise was tampered with.
NOT_NULL_SORTS = frozenset({"job_id", "name", "priority"})

#: last_outcome filter values and the last_run_status values each one covers.
OUTCOMES: dict[str, tuple[str, ...]] = {
    "success": (RunStatus.SUCCEEDED.value,),
    "fail": (RunStatus.FAILED.value, RunStatus.UPSTREAM_FAILED.value),
}


#: What a table row shows of a job: the page reads these, not the whole job (its config, code
#: references and backoff settings would be read, sent and turned into objects for nothing).
ROW_COLUMNS = (
    col(Job.job_id),
    col(Job.name),
    col(Job.enabled),
    col(Job.cron),
    col(Job.timezone),
    col(Job.next_run_at),
    col(Job.last_run_status),
    col(Job.last_run_duration_s),
    col(Job.priority),
    col(Job.tags),
    col(Job.domain),
    col(Job.params_schema),
)


@dataclass(frozen=True)
class JobRow:
    job_id: str
    name: str
    enabled: bool
    cron: str | None
    timezone: str
    next_run_at: datetime | None
    last_run_status: str | None
    last_run_duration_s: float | None
    dependencies: int
    priority: int
    tags: list[str]
    domain: str
    parameterized: bool


@dataclass(frozen=True)
class JobPage:
    """One page of jobs; `next_cursor` leads to the next page (None on the last one) and
    `prev_cursor` to the one before (None on the first)."""

    jobs: list[JobRow]
    next_cursor: str | None
    prev_cursor: str | None = None
    #: Each row's JobActivity by job id, when list_jobs was asked for it (with_activity).
    activity: dict[str, JobActivity] = field(default_factory=dict)


def _encode_key(sort: str, value: Any) -> Any:
    if value is None:
        return None
    if sort == "next_run_at":
        return as_utc(value).isoformat()
    return value


def encode_cursor(sort: str, descending: bool, key: Any, job_id: str) -> str:
    payload = {
        "s": sort,
        "d": descending,
        "n": key is None,
        "k": _encode_key(sort, key),
        "id": job_id,
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor(why: str) -> ValueError:
    return ValueError(f"invalid page cursor ({why}): start again from the first page")


def decode_cursor(cursor: str, sort: str, descending: bool) -> tuple[bool, Any, str]:
    """(key is NULL, key, job_id) of the last row of the previous page; ValueError if tampered."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise _bad_cursor("not base64 JSON") from None
    if not isinstance(payload, dict) or set(payload) != {"s", "d", "n", "k", "id"}:
        raise _bad_cursor("unexpected fields")
    if payload["s"] != sort or payload["d"] is not descending:
        raise _bad_cursor("it belongs to another sort order")
    is_null, key, job_id = payload["n"], payload["k"], payload["id"]
    if not isinstance(is_null, bool) or not isinstance(job_id, str):
        raise _bad_cursor("bad key types")
    if is_null:
        if key is not None or sort in NOT_NULL_SORTS:
            raise _bad_cursor("a NULL key it cannot have")
        return True, None, job_id
    valid: bool
    if sort in ("job_id", "name", "last_run_status"):
        valid = isinstance(key, str)
    elif sort == "priority":
        valid = isinstance(key, int) and not isinstance(key, bool)
    elif sort == "last_run_duration_s":
        valid = isinstance(key, int | float) and not isinstance(key, bool)
        key = float(key) if valid else key
    else:  # next_run_at
        valid = isinstance(key, str)
        if valid:
            try:
                key = as_utc(datetime.fromisoformat(key))
            except ValueError:
                valid = False
    if not valid:
        raise _bad_cursor("bad key types")
    return False, key, job_id


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"page size {limit} is out of range: use 1 to {MAX_PAGE}")


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _tags_filter(dialect: str, tags: Sequence[str]) -> list[ColumnElement[bool]]:
    if not tags:
        return []
    if dialect == "postgresql":
        wanted = cast(literal(json.dumps(list(tags))), JSONB)
        return [type_coerce(col(Job.tags), JSONB).op("@>")(wanted)]
    clauses: list[ColumnElement[bool]] = []
    for index, tag in enumerate(tags):
        name = f"tag_{index}"
        clause = text(
            f"EXISTS (SELECT 1 FROM json_each(dw_etl_jobs.tags) AS je WHERE je.value = :{name})"
        ).bindparams(**{name: tag})
        clauses.append(and_(true(), clause))
    return clauses


def _after(key_col: Any, descending: bool, key: Any, job_id: str) -> ColumnElement[bool]:
    """Non-NULL keys after (key, job_id): a row-value range an index on (key, job_id) serves."""
    pair = tuple_(key_col, col(Job.job_id))
    last = (key, job_id)
    return pair < last if descending else pair > last


def filtered_query(
    session: Session,
    *,
    enabled: bool | None,
    last_outcome: str | None,
    tags: Sequence[str],
    domain: str | None,
    search: str | None,
) -> Any:
    deps = (
        select(func.count())
        .select_from(JobDependency)
        .where(col(JobDependency.job_id) == col(Job.job_id))
        .scalar_subquery()
    )
    # SQLAlchemy's select: SQLModel's is typed for at most four columns.
    query = sa_select(*ROW_COLUMNS, deps.label("dependencies"))
    if enabled is not None:
        query = query.where(col(Job.enabled) == enabled)
    if last_outcome is not None:
        query = query.where(col(Job.last_run_status).in_(OUTCOMES[last_outcome]))
    if domain is not None:
        query = query.where(col(Job.domain) == domain)
    if search:
        pattern = f"%{escape_like(search)}%"
        query = query.where(
            or_(
                # lower(...) is what the trigram index covers (models/jobs.py says why).
                func.lower(col(Job.job_id)).ilike(pattern, escape="\\"),
                func.lower(col(Job.name)).ilike(pattern, escape="\\"),
            )
        )
    for clause in _tags_filter(session.get_bind().dialect.name, tags):
        query = query.where(clause)
    return query


def _window(
    session: Session,
    query: Any,
    sort: str,
    descending: bool,
    start: tuple[bool, Any, str] | None,
    count: int,
    *,
    backward: bool,
) -> list[Any]:
    """Up to `count` rows next to `start` (exclusive) in the page order, or before it if
    `backward` (then nearest first). The order is (key, job_id) with NULL keys last.

    Two index-friendly segments: the non-NULL keys in (key, job_id) order and the NULL keys in
    job_id order; walking backwards visits them the other way round and in reverse.
    """
    key_col = SORTS[sort]
    id_col = col(Job.job_id)
    reverse = descending != backward  # the direction of the SQL ORDER BY
    id_order = id_col.desc() if reverse else id_col.asc()
    key_order = key_col.desc() if reverse else key_col.asc()
    in_nulls = start is not None and start[0]

    def present() -> Any:
        segment = query.where(key_col.is_not(None))
        if start is not None and not in_nulls:
            segment = segment.where(_after(key_col, reverse, start[1], start[2]))
        order = [id_order] if sort == "job_id" else [key_order, id_order]
        return segment.order_by(*order)

    def nulls() -> Any:
        segment = query.where(key_col.is_(None))
        if in_nulls:
            assert start is not None
            segment = segment.where(id_col < start[2] if reverse else id_col > start[2])
        return segment.order_by(id_order)

    if sort == "job_id":
        segments = [present]
    elif backward:
        segments = [nulls, present] if start is None or in_nulls else [present]
    else:
        segments = [nulls] if in_nulls else [present, nulls]
    rows: list[Any] = []
    for segment in segments:
        if len(rows) >= count:
            break
        rows += list(session.execute(segment().limit(count - len(rows))))
    return rows


def list_jobs(
    session: Session,
    *,
    sort: str = "job_id",
    descending: bool = False,
    enabled: bool | None = None,
    last_outcome: str | None = None,
    tags: Sequence[str] = (),
    domain: str | None = None,
    search: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
    with_activity: bool = False,
) -> JobPage:
    """One page of jobs in (sort key, job_id) order, NULL keys last whichever the direction.

    Keyset pagination: `after` is the previous page's next_cursor (the page after it), `before`
    a page's prev_cursor (the page before it), never an OFFSET, so a page costs the same however
    deep it is. A page before which fewer than `limit` rows remain is the first page.
    `with_activity` reads each row's JobActivity in the same statement (the table's page read:
    a round trip less than activity() after it).
    """
    _check_limit(limit)
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}: use one of {', '.join(SORTS)}")
    if last_outcome is not None and last_outcome not in OUTCOMES:
        raise ValueError(f"unknown last outcome {last_outcome!r}: use success or fail")
    if after is not None and before is not None:
        raise ValueError("give a page cursor for one direction only (after or before)")
    if any("\x00" in text for text in (search or "", domain or "", *tags)):
        # No job id, name, tag or domain can hold a NUL (PostgreSQL refuses it in text).
        return JobPage(jobs=[], next_cursor=None)
    query = filtered_query(
        session,
        enabled=enabled,
        last_outcome=last_outcome,
        tags=tags,
        domain=domain,
        search=search,
    )
    if with_activity:
        query = query.add_columns(*_activity_columns(session))
    if before is not None:
        end = decode_cursor(before, sort, descending)
        rows = _window(session, query, sort, descending, end, limit + 1, backward=True)
        if len(rows) > limit:
            shown = rows[:limit][::-1]
            jobs = [_row(row) for row in shown]
            return JobPage(
                jobs=jobs,
                next_cursor=_cursor_of(jobs[-1], sort, descending),
                prev_cursor=_cursor_of(jobs[0], sort, descending),
                activity=_activities(shown) if with_activity else {},
            )
        after = None  # fewer than a page before it: that is the first page
    start = None if after is None else decode_cursor(after, sort, descending)
    rows = _window(session, query, sort, descending, start, limit + 1, backward=False)
    jobs = [_row(row) for row in rows[:limit]]
    return JobPage(
        jobs=jobs,
        next_cursor=_cursor_of(jobs[-1], sort, descending) if len(rows) > limit else None,
        prev_cursor=_cursor_of(jobs[0], sort, descending) if start is not None and jobs else None,
        activity=_activities(rows[:limit]) if with_activity else {},
    )


def _activities(rows: Sequence[Any]) -> dict[str, JobActivity]:
    return {row.job_id: _activity_of(row) for row in rows}


def _cursor_of(row: JobRow, sort: str, descending: bool) -> str:
    return encode_cursor(sort, descending, getattr(row, sort), row.job_id)


def _row(row: Any) -> JobRow:
    """A JobRow of one result row of filtered_query (ROW_COLUMNS, then the dependencies)."""
    schema = row.params_schema
    parameterized = bool(isinstance(schema, dict) and schema.get("properties"))
    return JobRow(
        job_id=row.job_id,
        name=row.name,
        enabled=row.enabled,
        cron=row.cron,
        timezone=row.timezone,
        next_run_at=row.next_run_at,
        last_run_status=row.last_run_status,
        last_run_duration_s=row.last_run_duration_s,
        dependencies=int(row.dependencies),
        priority=row.priority,
        tags=list(row.tags or []),
        domain=row.domain,
        parameterized=parameterized,
    )


#: The window of the transient-failure rate (ARCHITECTURE.md, "Figures").
RATE_WINDOW = timedelta(hours=24)
#: Statuses of a run that has not ended yet, newest first wins per job.
ACTIVE = tuple(sorted(set(RunStatus) - FINAL))


@dataclass(frozen=True)
class JobActivity:
    """What moves between page loads for one job: its last finished run, the run in progress,
    backoff, and the transient-failure rate over 24 h (real runs only)."""

    job_id: str
    last_run_status: str | None
    last_run_duration_s: float | None
    #: Status of the newest run that has not ended (None: nothing in progress).
    active_status: str | None
    #: A run is retrying with its next attempt pending.
    backoff: bool
    transient_attempts: int
    attempts: int

    @property
    def transient_rate(self) -> float | None:
        """Transient attempts / all attempts in the window; None without attempts."""
        return self.transient_attempts / self.attempts if self.attempts else None


def _activity_columns(session: Session) -> list[Any]:
    """The columns of a JobActivity besides the job's own, as subqueries correlated with the
    job row: whatever selects jobs gets their activity in the same statement."""
    since = db_time_ago(session, RATE_WINDOW)
    in_job = col(Run.job_id) == col(Job.job_id)
    # The newest unfinished run: few rows per job, found by ix_dw_etl_runs_job_status_tick.
    active = (
        sa_select(col(Run.status))
        .where(in_job, col(Run.status).in_(ACTIVE))
        .order_by(col(Run.run_id).desc())
        .limit(1)
        .scalar_subquery()
    )
    # A LIMIT 1 subquery, not EXISTS: PostgreSQL may run an EXISTS once for every job (hashed)
    # and read all retrying runs (~30,000 at 1M runs) to show 50 rows.
    backoff = (
        sa_select(literal(True))
        .where(
            in_job,
            col(Run.status) == RunStatus.RETRYING.value,
            col(Run.next_attempt_at).is_not(None),
        )
        .limit(1)
        .scalar_subquery()
    )
    at = func.coalesce(
        col(RunAttempt.started_at), col(RunAttempt.dispatched_at), col(RunAttempt.ended_at)
    )

    def attempts(*only: ColumnElement[bool]) -> Any:
        return (
            sa_select(func.count())
            .select_from(RunAttempt)
            .join(Run, col(Run.run_id) == col(RunAttempt.run_id))
            .where(
                in_job,
                # An attempt happens before its run ends, so a run that ended before the window
                # has none in it: ix_dw_etl_runs_job_ended skips a job's older runs (most).
                or_(col(Run.ended_at).is_(None), col(Run.ended_at) >= since),
                col(Run.dry_run).is_(False),
                at >= since,
                *only,
            )
            .scalar_subquery()
        )

    return [
        active.label("active_status"),
        backoff.label("backoff"),
        attempts(col(RunAttempt.error_class) == "transient").label("transient_attempts"),
        attempts().label("attempts"),
    ]


def _activity_of(row: Any) -> JobActivity:
    """The JobActivity of a result row that has _activity_columns and the job's last run."""
    return JobActivity(
        job_id=row.job_id,
        last_run_status=row.last_run_status,
        last_run_duration_s=row.last_run_duration_s,
        active_status=row.active_status,
        backoff=bool(row.backoff),
        transient_attempts=int(row.transient_attempts or 0),
        attempts=int(row.attempts or 0),
    )


def activity(session: Session, job_ids: Sequence[str]) -> dict[str, JobActivity]:
    """JobActivity of each of these jobs (a page's worth) in one statement."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    query = sa_select(
        col(Job.job_id),
        col(Job.last_run_status),
        col(Job.last_run_duration_s),
        *_activity_columns(session),
    ).where(col(Job.job_id).in_(ids))
    return {row.job_id: _activity_of(row) for row in session.execute(query)}


def job_count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(Job)).one())


def filter_choices(session: Session, *, limit: int = 200) -> tuple[list[str], list[str]]:
    """The data domains and tags jobs have (each sorted, at most `limit`), for the filters."""
    domains = [
        str(d)
        for d in session.exec(
            select(Job.domain)
            .where(col(Job.domain) != "")
            .distinct()
            .order_by(col(Job.domain))
            .limit(limit)
        )
    ]
    if session.get_bind().dialect.name == "postgresql":
        sql = (
            "SELECT DISTINCT t FROM dw_etl_jobs, jsonb_array_elements_text(tags) AS t "
            "ORDER BY t LIMIT :n"
        )
    else:
        sql = (
            "SELECT DISTINCT je.value AS t FROM dw_etl_jobs, json_each(tags) AS je "
            "ORDER BY t LIMIT :n"
        )
    tags = [str(t) for (t,) in session.execute(text(sql), {"n": limit})]
    return domains, tags
