"""`etl-orchestrator jobs ...`: sync the declared jobs into the database, list them, show one."""

from __future__ import annotations

import argparse
import difflib
import sys
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from etl_orchestrator.cli import CommandError
from etl_orchestrator.cli._output import print_fields, print_json, print_table
from etl_orchestrator.cli.db import database_errors
from etl_orchestrator.cron import describe_cron
from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.errors import DeclarationError
from etl_orchestrator.jobs.registry import default_modules, load_jobs
from etl_orchestrator.jobs.spec import RetryPolicy
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import Job, JobDependency
from etl_orchestrator.services.audit import shell_actor
from etl_orchestrator.timeutil import iso, utcnow


def _sync(args: argparse.Namespace) -> int:
    modules = tuple(args.module) if args.module else default_modules()
    try:
        specs = load_jobs(modules)
        with database_errors(), session_scope() as session:
            report = sync_jobs(session, specs, now=utcnow(), actor=shell_actor())
    except DeclarationError as error:
        print(f"error: {error}", file=sys.stderr)
        print("nothing was written to the database", file=sys.stderr)
        return 2
    print(f"synced {len(specs)} jobs from {', '.join(modules)}: {report.summary()}")
    for label, ids in (
        ("created", report.created),
        ("updated", report.updated),
        ("disabled", report.disabled),
    ):
        if ids:
            print(f"  {label}: {', '.join(ids)}")
    return 0


def _dependency_counts(session: Session) -> dict[str, int]:
    rows = session.exec(
        select(JobDependency.job_id, func.count()).group_by(col(JobDependency.job_id))
    ).all()
    return {job_id: int(count) for job_id, count in rows}


def _summary(job: Job, dependencies_count: int) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "name": job.name,
        "enabled": job.enabled,
        "declared": job.declared,
        "kind": job.kind,
        "cron": job.cron,
        "timezone": job.timezone,
        "next_run_at": iso(job.next_run_at),
        "dependencies_count": dependencies_count,
        "tags": list(job.tags),
        "parameterized": job.params_schema is not None,
        "domain": job.domain,
        "priority": job.priority,
        "last_run_status": job.last_run_status,
    }


def _enabled_label(job: Job) -> str:
    if not job.declared:
        return "no (not declared)"
    return "yes" if job.enabled else "no"


def _list(args: argparse.Namespace) -> int:
    with database_errors(), session_scope() as session:
        jobs = session.exec(select(Job).order_by(col(Job.job_id))).all()
        counts = _dependency_counts(session)
    summaries = [_summary(job, counts.get(job.job_id, 0)) for job in jobs]
    if args.json:
        print_json(summaries)
        return 0
    if not jobs:
        print("no jobs in the database; run `etl-orchestrator jobs sync` to load the declared jobs")
        return 0
    print_table(
        ["JOB", "ENABLED", "CRON", "NEXT RUN (UTC)", "DEPS", "TAGS", "PARAMS", "LAST STATUS"],
        [
            [
                item["job_id"],
                _enabled_label(job),
                item["cron"],
                item["next_run_at"],
                item["dependencies_count"],
                item["tags"],
                item["parameterized"],
                item["last_run_status"] or "never run",
            ]
            for job, item in zip(jobs, summaries, strict=True)
        ],
    )
    return 0


def _unknown_job(job_id: str, known: list[str]) -> CommandError:
    close = difflib.get_close_matches(job_id, known, n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return CommandError(
        f"unknown job {job_id!r}; run `etl-orchestrator jobs list` to see declared jobs.{hint}"
    )


def _retry_policy(job: Job) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=job.max_attempts,
        base_s=job.backoff_base_s,
        factor=job.backoff_factor,
        max_s=job.backoff_max_s,
        jitter=job.backoff_jitter,
    )


def _schedule(job: Job) -> str:
    if job.cron is None:
        return "none (runs when triggered, or with its upstream)"
    return f"{job.cron} in {job.timezone}: {describe_cron(job.cron)}"


def _params(schema: dict[str, Any] | None) -> str:
    if schema is None:
        return "none"
    required = set(schema.get("required", []))
    lines = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("format") or prop.get("type") or "value"
        if name in required:
            lines.append(f"{name}: {kind}, required")
        else:
            lines.append(f"{name}: {kind}, default {prop.get('default')!r}")
    return "\n".join(lines) or "none (an empty model)"


def _details(job: Job, upstream: list[JobDependency], downstream: list[str]) -> dict[str, Any]:
    data = _summary(job, len(upstream))
    data.update(
        description=job.description,
        entrypoint=job.entrypoint,
        reads=list(job.reads),
        writes=list(job.writes),
        retry={
            "max_attempts": job.max_attempts,
            "base_s": job.backoff_base_s,
            "factor": job.backoff_factor,
            "max_s": job.backoff_max_s,
            "jitter": job.backoff_jitter,
            "description": _retry_policy(job).describe(),
        },
        timeout_s=job.timeout_s,
        wait_timeout_s=job.wait_timeout_s,
        catchup=job.catchup,
        supports_dry_run=job.supports_dry_run,
        params_schema=job.params_schema,
        depends_on=[{"job_id": d.upstream_job_id, "type": d.dep_type} for d in upstream],
        dependents=downstream,
        last_run_id=job.last_run_id,
        last_run_at=iso(job.last_run_at),
        last_run_duration_s=job.last_run_duration_s,
        sql=job.config.get("sql"),
    )
    return data


def _print_details(job: Job, data: dict[str, Any]) -> None:
    last_run = "never run"
    if job.last_run_status:
        duration = f", {job.last_run_duration_s:.1f} s" if job.last_run_duration_s else ""
        last_run = (
            f"{job.last_run_status} at {data['last_run_at']} (run {job.last_run_id}{duration})"
        )
    print_fields(
        [
            ("Job", f"{job.job_id}: {job.name}"),
            ("Description", job.description),
            ("Kind", f"{job.kind} ({job.entrypoint})"),
            ("Enabled", _enabled_label(job)),
            ("Schedule", _schedule(job)),
            ("Next run", data["next_run_at"]),
            ("Catch-up", job.catchup),
            ("Priority", job.priority),
            ("Tags", job.tags),
            ("Domain", job.domain),
            ("Reads", job.reads),
            ("Writes", job.writes),
            ("Depends on", [f"{d['job_id']} ({d['type']})" for d in data["depends_on"]]),
            ("Dependents", data["dependents"]),
            ("Retry", data["retry"]["description"]),
            ("Timeout", f"{job.timeout_s:g} s per attempt"),
            ("Upstream wait", f"up to {job.wait_timeout_s:g} s"),
            ("Dry-run", "supported" if job.supports_dry_run else "not supported"),
            ("Parameters", _params(job.params_schema)),
            ("Last run", last_run),
            *([("SQL", data["sql"])] if data["sql"] else []),
        ]
    )


def _show(args: argparse.Namespace) -> int:
    with database_errors(), session_scope() as session:
        job = session.get(Job, args.job)
        if job is None:
            known = list(session.exec(select(Job.job_id)).all())
            raise _unknown_job(args.job, known)
        upstream = list(
            session.exec(
                select(JobDependency)
                .where(JobDependency.job_id == job.job_id)
                .order_by(col(JobDependency.upstream_job_id))
            ).all()
        )
        downstream = list(
            session.exec(
                select(JobDependency.job_id)
                .where(JobDependency.upstream_job_id == job.job_id)
                .order_by(col(JobDependency.job_id))
            ).all()
        )
    data = _details(job, upstream, downstream)
    if args.json:
        print_json(data)
    else:
        _print_details(job, data)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("jobs", help="declared jobs: sync, list, show")
    actions = parser.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)

    sync = actions.add_parser(
        "sync",
        help="load the jobs modules, check them, and write the jobs to the database",
        description="Writes nothing unless every declared job is valid.",
    )
    sync.add_argument(
        "--module",
        action="append",
        metavar="MODULE",
        help="a jobs module to load (repeatable; default: ETL_JOBS_MODULES)",
    )
    sync.set_defaults(func=_sync)

    listing = actions.add_parser("list", help="the jobs in the database, one per line")
    listing.add_argument("--json", action="store_true", help="print a JSON list instead")
    listing.set_defaults(func=_list)

    show = actions.add_parser("show", help="everything about one job")
    show.add_argument("job", metavar="JOB", help="the job id")
    show.add_argument("--json", action="store_true", help="print a JSON object instead")
    show.set_defaults(func=_show)
