"""Read-side queries about jobs: keyset pages of the jobs table, sorted, filtered and searched."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
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
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col, select

from etl_orchestrator.models import Job, JobDependency
from etl_orchestrator.states import RunStatus
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
    """One page of jobs; `next_cursor` leads to the next page, None on the last one."""

    jobs: list[JobRow]
    next_cursor: str | None


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
    limit: int = 50,
) -> JobPage:
    """One page of jobs in (sort key, job_id) order, NULL keys last whichever the direction.

    Keyset pagination: `after` is the previous page's next_cursor, never an OFFSET, so a page
    costs the same however deep it is.
    """
    _check_limit(limit)
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}: use one of {', '.join(SORTS)}")
    if last_outcome is not None and last_outcome not in OUTCOMES:
        raise ValueError(f"unknown last outcome {last_outcome!r}: use success or fail")
    if any("\x00" in text for text in (search or "", domain or "", *tags)):
        # No job id, name, tag or domain can hold a NUL (PostgreSQL refuses it in text).
        return JobPage(jobs=[], next_cursor=None)
    key_col = SORTS[sort]
    deps = (
        select(func.count())
        .select_from(JobDependency)
        .where(col(JobDependency.job_id) == col(Job.job_id))
        .scalar_subquery()
    )
    query = select(Job, deps)
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
                col(Job.job_id).ilike(pattern, escape="\\"),
                col(Job.name).ilike(pattern, escape="\\"),
            )
        )
    for clause in _tags_filter(session.get_bind().dialect.name, tags):
        query = query.where(clause)
    # Two index-friendly steps (NULLS LAST): the non-NULL keys after the cursor in
    # (key, job_id) order, then, if the page is not full yet, the NULL keys in job_id order.
    id_col = col(Job.job_id)
    id_order = id_col.desc() if descending else id_col.asc()
    key_order = key_col.desc() if descending else key_col.asc()
    is_null, key, job_id = (
        (False, None, None) if after is None else decode_cursor(after, sort, descending)
    )
    rows: list[Any] = []
    if not is_null:
        present = query.where(key_col.is_not(None))
        if job_id is not None:
            present = query.where(_after(key_col, descending, key, job_id))
        order = [id_order] if sort == "job_id" else [key_order, id_order]
        rows = list(session.exec(present.order_by(*order).limit(limit + 1)))
    if len(rows) <= limit and sort != "job_id":
        nulls = query.where(key_col.is_(None))
        if is_null and job_id is not None:
            nulls = nulls.where(id_col < job_id if descending else id_col > job_id)
        rows += list(session.exec(nulls.order_by(id_order).limit(limit + 1 - len(rows))))
    more = len(rows) > limit
    jobs = [_row(job, count) for job, count in rows[:limit]]
    next_cursor = None
    if more and jobs:
        last = jobs[-1]
        next_cursor = encode_cursor(sort, descending, getattr(last, sort), last.job_id)
    return JobPage(jobs=jobs, next_cursor=next_cursor)


def _row(job: Job, dependencies: int) -> JobRow:
    schema = job.params_schema
    parameterized = bool(isinstance(schema, dict) and schema.get("properties"))
    return JobRow(
        job_id=job.job_id,
        name=job.name,
        enabled=job.enabled,
        cron=job.cron,
        timezone=job.timezone,
        next_run_at=job.next_run_at,
        last_run_status=job.last_run_status,
        last_run_duration_s=job.last_run_duration_s,
        dependencies=int(dependencies),
        priority=job.priority,
        tags=list(job.tags or []),
        domain=job.domain,
        parameterized=parameterized,
    )
