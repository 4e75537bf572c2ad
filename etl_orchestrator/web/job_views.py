"""What the job page shows (its overview, a page of its runs), as plain JSON-ready rows.

One run's detail for the run drawer is `web.snapshots.run_summary` (shared with live updates).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from etl_orchestrator.cron import CronError, describe_cron, next_fire_times
from etl_orchestrator.db import db_now
from etl_orchestrator.jobs.errors import DeclarationError
from etl_orchestrator.jobs.spec import RetryPolicy
from etl_orchestrator.models import Job, Run
from etl_orchestrator.services.run_queries import list_runs
from etl_orchestrator.timeutil import iso
from etl_orchestrator.web.snapshots import format_duration

NEXT_RUNS = 5
RUNS_PAGE = 25
#: The runs table shows the start of an error; the drawer shows all of it.
ROW_EXCERPT_CHARS = 140
NONE = "—"


@dataclass
class ParamRow:
    name: str = ""
    type: str = ""
    required: bool = False
    default: str = ""
    description: str = ""


@dataclass
class JobOverview:
    """The Overview tab; `found` is False for an unknown job id."""

    found: bool = False
    job_id: str = ""
    name: str = ""
    description: str = ""
    enabled: bool = True
    declared: bool = True
    kind: str = ""
    config_json: str = ""
    cron: str = ""
    cron_text: str = ""
    timezone: str = ""
    next_runs: list[str] = field(default_factory=list)
    previous_run_id: int = 0
    previous_run_status: str = ""
    previous_run_at: str = ""
    retry_text: str = ""
    timeout_text: str = ""
    wait_timeout_text: str = ""
    isolation_text: str = ""
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    params: list[ParamRow] = field(default_factory=list)
    has_params_schema: bool = False


@dataclass
class JobRunRow:
    """One run in the Runs tab. Times are ISO 8601 UTC, or "" when not reached."""

    run_id: int = 0
    trigger: str = ""
    status: str = ""
    status_detail: str = ""
    dry_run: bool = False
    started_at: str = ""
    ended_at: str = ""
    duration: str = ""
    attempts: str = ""
    records_read: str = ""
    records_written: str = ""
    error_excerpt: str = ""


def retry_policy_text(
    max_attempts: int, base_s: float, factor: float, max_s: float, jitter: float
) -> str:
    """The retry policy in words: "up to 4 attempts, 2 s × 2ⁿ, max 60 s, ±20% jitter"."""  # noqa: RUF002
    if max_attempts <= 1:
        return "1 attempt, no retries"
    try:
        return RetryPolicy(
            max_attempts=max_attempts, base_s=base_s, factor=factor, max_s=max_s, jitter=jitter
        ).describe()
    except DeclarationError:
        # A row edited by hand can hold what code could not declare: show it as stored.
        return (
            f"up to {max_attempts} attempts, base {base_s:g} s, factor {factor:g}, "
            f"max {max_s:g} s, jitter {jitter:g}"
        )


def _ts(value: datetime | None) -> str:
    return iso(value) or ""


def _schema_type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    """A JSON Schema property's type in a few words ("string (date)", "integer | null")."""
    if "$ref" in prop:
        name = str(prop["$ref"]).rsplit("/", 1)[-1]
        target = defs.get(name, {})
        if "enum" in target:
            return "one of " + ", ".join(json.dumps(v) for v in target["enum"])
        return name
    if "enum" in prop:
        return "one of " + ", ".join(json.dumps(v) for v in prop["enum"])
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return " | ".join(_schema_type(p, defs) for p in prop[key])
    kind = prop.get("type", "any")
    kind = " | ".join(kind) if isinstance(kind, list) else str(kind)
    if kind == "array" and isinstance(prop.get("items"), dict):
        kind = f"array of {_schema_type(prop['items'], defs)}"
    if "format" in prop:
        kind = f"{kind} ({prop['format']})"
    return kind


def param_rows(schema: dict[str, Any] | None) -> list[ParamRow]:
    """A job's parameter schema (JSON Schema of an object) as one row per property.

    Required parameters first, then by name: PostgreSQL's JSONB does not keep the declared order.
    """
    if not schema:
        return []
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    defs = schema.get("$defs") or schema.get("definitions") or {}
    rows = [
        ParamRow(
            name=name,
            type=_schema_type(prop, defs),
            required=name in required,
            default=json.dumps(prop["default"]) if "default" in prop else NONE,
            description=str(prop.get("description") or prop.get("title") or ""),
        )
        for name, prop in props.items()
        if isinstance(prop, dict)
    ]
    return sorted(rows, key=lambda row: (not row.required, row.name))


def _config(job: Job) -> dict[str, Any]:
    """The job as declared: what code and settings define, not its run history."""
    return {
        "job_id": job.job_id,
        "name": job.name,
        "kind": job.kind,
        "entrypoint": job.entrypoint,
        "enabled": job.enabled,
        "declared": job.declared,
        "cron": job.cron,
        "timezone": job.timezone,
        "catchup": job.catchup,
        "priority": job.priority,
        "domain": job.domain,
        "tags": job.tags,
        "retry": {
            "max_attempts": job.max_attempts,
            "backoff_base_s": job.backoff_base_s,
            "backoff_factor": job.backoff_factor,
            "backoff_max_s": job.backoff_max_s,
            "backoff_jitter": job.backoff_jitter,
        },
        "timeout_s": job.timeout_s,
        "wait_timeout_s": job.wait_timeout_s,
        "reads": job.reads,
        "writes": job.writes,
        "supports_dry_run": job.supports_dry_run,
        "config": job.config,
        "params_schema": job.params_schema,
    }


#: Where a job's attempts run, as the Overview says it (sync stores it in the job's config).
ISOLATION_TEXT = {
    "process": "a fresh process per attempt",
    "pooled": "a pooled process that other attempts reuse (reuse_process)",
    "thread": "a worker thread (cooperative: asked to stop, cannot be killed)",
}


def _next_runs(job: Job, now: datetime) -> list[str]:
    if not job.cron:
        return []
    try:
        return [_ts(t) for t in next_fire_times(job.cron, job.timezone, now, NEXT_RUNS)]
    except (CronError, ValueError):
        return []


def job_overview(session: Session, job_id: str) -> JobOverview:
    job = session.get(Job, job_id)
    if job is None:
        return JobOverview(found=False, job_id=job_id)
    previous = session.exec(
        select(Run).where(col(Run.job_id) == job_id).order_by(col(Run.run_id).desc()).limit(1)
    ).first()
    return JobOverview(
        found=True,
        job_id=job.job_id,
        name=job.name,
        description=job.description,
        enabled=job.enabled,
        declared=job.declared,
        kind=job.kind,
        config_json=json.dumps(_config(job), indent=2, default=str),
        cron=job.cron or "",
        cron_text=describe_cron(job.cron) if job.cron else "No schedule: runs when triggered",
        timezone=job.timezone,
        next_runs=_next_runs(job, db_now(session)),
        previous_run_id=(previous.run_id or 0) if previous else 0,
        previous_run_status=previous.status if previous else "",
        previous_run_at=_ts(previous.queued_at) if previous else "",
        retry_text=retry_policy_text(
            job.max_attempts,
            job.backoff_base_s,
            job.backoff_factor,
            job.backoff_max_s,
            job.backoff_jitter,
        ),
        timeout_text=format_duration(job.timeout_s),
        wait_timeout_text=format_duration(job.wait_timeout_s),
        isolation_text=ISOLATION_TEXT.get(
            str((job.config or {}).get("isolation", "process")), ISOLATION_TEXT["process"]
        ),
        reads=list(job.reads),
        writes=list(job.writes),
        params=param_rows(job.params_schema),
        has_params_schema=bool(job.params_schema),
    )


def _count(value: int | None) -> str:
    return NONE if value is None else f"{value:,}"


def _short(text: str | None) -> str:
    if not text:
        return ""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= ROW_EXCERPT_CHARS else first[:ROW_EXCERPT_CHARS] + " …"


def job_run_row(run: Run) -> JobRunRow:
    return JobRunRow(
        run_id=run.run_id or 0,
        trigger=run.trigger,
        status=run.status,
        status_detail=run.status_detail,
        dry_run=run.dry_run,
        started_at=_ts(run.started_at),
        ended_at=_ts(run.ended_at),
        duration=format_duration(run.duration_s),
        attempts=f"{run.attempts} of {run.max_attempts}",
        records_read=_count(run.records_read),
        records_written=_count(run.records_written),
        error_excerpt=_short(run.error_excerpt),
    )


@dataclass
class JobRunsPage:
    rows: list[JobRunRow]
    next_before: int | None


def job_runs(
    session: Session, job_id: str, *, before: int | None = None, limit: int = RUNS_PAGE
) -> JobRunsPage:
    """One page of a job's runs, newest first (keyset on run_id: `before` is a cursor)."""
    page = list_runs(session, job_id=job_id, before=before, limit=limit)
    return JobRunsPage(rows=[job_run_row(r) for r in page.runs], next_before=page.next_before)
