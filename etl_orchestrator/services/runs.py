"""Triggering runs: a batch of the job's run and, on request, its downstream, validated first."""

from __future__ import annotations

import difflib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_
from sqlmodel import Session, col, select

from etl_orchestrator.db import db_now, in_chunks
from etl_orchestrator.engine.dispatch import upstreams_of
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.models import Job, JobDependency, Run
from etl_orchestrator.services import audit, catalog, settings
from etl_orchestrator.states import RunStatus, record_created


class TriggerError(ValueError):
    """A run could not be triggered; nothing was written. The message says what to do."""


class UnknownJobError(TriggerError):
    pass


class JobDisabledError(TriggerError):
    pass


class ParamsError(TriggerError):
    """Params failed the job's pydantic model; `errors` maps each field to its message."""

    def __init__(self, message: str, errors: dict[str, str]) -> None:
        super().__init__(message)
        self.errors = errors


@dataclass
class TriggerResult:
    batch_id: str
    runs: list[Run] = field(default_factory=list)

    @property
    def run_ids(self) -> list[int]:
        return [run.run_id for run in self.runs if run.run_id is not None]


def _unknown(job_id: str, known: list[str]) -> UnknownJobError:
    close = difflib.get_close_matches(job_id, known, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return UnknownJobError(
        f"unknown job {job_id!r}.{hint} Run `etl-orchestrator jobs list` to see declared jobs."
    )


#: Longest reason kept; a longer one is almost surely a paste gone wrong.
MAX_REASON_CHARS = 2000


def _check_text(*, reason: str, requested_by: str) -> None:
    """Text the database would refuse (PostgreSQL holds no NUL character) is refused here,
    with a message, before anything is written."""
    for name, value in (("reason", reason), ("user name", requested_by)):
        if "\x00" in value:
            raise TriggerError(f"the {name} contains a NUL character: remove it and try again")
    if len(reason) > MAX_REASON_CHARS:
        raise TriggerError(
            f"the reason is {len(reason)} characters long: keep it under {MAX_REASON_CHARS}"
        )
    if len(requested_by) > 128:
        raise TriggerError("the user name is longer than 128 characters")


def validate_params(
    spec: JobSpec | None, job_id: str, params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The params as the job's model accepts them (JSON-ready), or ParamsError per field."""
    params = dict(params or {})
    if spec is None or spec.params is None:
        if params:
            raise ParamsError(
                f"job {job_id!r} takes no parameters, got: {', '.join(sorted(params))}",
                {name: "not a parameter of this job" for name in params},
            )
        return {}
    model_cls = spec.params
    if model_cls.model_config.get("extra") != "allow":
        known = set(model_cls.model_fields) | {
            f.alias for f in model_cls.model_fields.values() if f.alias
        }
        unknown = sorted(set(params) - known)
        if unknown:
            raise ParamsError(
                f"invalid params for job {job_id!r}: unknown parameter(s) {', '.join(unknown)}; "
                f"this job takes: {', '.join(sorted(model_cls.model_fields)) or 'nothing'}",
                {name: "not a parameter of this job" for name in unknown},
            )
    try:
        model = model_cls.model_validate(params)
    except ValidationError as error:
        errors = {
            ".".join(str(p) for p in item["loc"]) or "params": item["msg"]
            for item in error.errors()
        }
        detail = "; ".join(f"{name}: {msg}" for name, msg in errors.items())
        raise ParamsError(f"invalid params for job {job_id!r}: {detail}", errors) from None
    clean = model.model_dump(mode="json")
    if "\\u0000" in json.dumps(clean):
        raise ParamsError(
            f"invalid params for job {job_id!r}: a value contains a NUL character",
            {"params": "remove the NUL character"},
        )
    return clean


def batch_members(session: Session, root: Job, *, downstream: bool) -> list[Job]:
    """The root job and, with downstream, every enabled transitive dependent without its own cron.

    A dependent with its own cron keeps to its schedule, and so do the jobs reached only through
    it. Walked level by level from the root over the indexed reverse edges, so the cost follows
    the size of the batch, not of the whole pipeline.
    """
    members: dict[str, Job] = {}
    frontier = {root.job_id} if downstream else set()
    while frontier:
        children: set[str] = set()
        for chunk in in_chunks(frontier):
            children.update(
                session.exec(
                    select(JobDependency.job_id).where(
                        col(JobDependency.upstream_job_id).in_(chunk)
                    )
                )
            )
        children -= members.keys() | {root.job_id}
        frontier = set()
        for chunk in in_chunks(children):
            for job in session.exec(
                select(Job).where(
                    col(Job.job_id).in_(chunk),
                    col(Job.enabled).is_(True),
                    col(Job.declared).is_(True),
                    or_(col(Job.cron).is_(None), col(Job.cron) == ""),
                )
            ):
                members[job.job_id] = job
                frontier.add(job.job_id)
    return [root, *(members[job_id] for job_id in sorted(members))]


def runnable_job(session: Session, job_id: str) -> Job:
    """The job, if it may run now: known, still declared and enabled; TriggerError otherwise."""
    if "\x00" in job_id:  # PostgreSQL holds no NUL in text: no job can have such an id
        raise TriggerError("the job id contains a NUL character: remove it and try again")
    job = session.get(Job, job_id)
    if job is None:
        raise _unknown(job_id, list(session.exec(select(Job.job_id))))
    if not job.declared:
        raise JobDisabledError(
            f"job {job_id!r} is no longer declared in code; it is kept only for its history"
        )
    if not job.enabled:
        raise JobDisabledError(
            f"job {job_id!r} is disabled; an admin can enable it before it can run"
        )
    return job


def check_concurrency(session: Session, concurrency: int | None) -> None:
    """A concurrency override must lie within 1 and the current cap."""
    cap = settings.parallel_jobs(session)
    if concurrency is not None and not 1 <= concurrency <= cap:
        raise TriggerError(
            f"concurrency override {concurrency} is out of range: use 1 to {cap} (the current cap)"
        )


#: One run a trigger would create: its job, and the upstream jobs that hold it at first.
PlannedRun = tuple[Job, list[str]]


def plan_batch(
    session: Session, job: Job, *, downstream: bool, dry_run: bool, trigger: str = "manual"
) -> list[PlannedRun]:
    """The runs a trigger of `job` creates, in creation order, each with what holds it.

    trigger() creates exactly these; the run modal's impact preview shows them.
    """
    members = batch_members(session, job, downstream=downstream)
    member_ids = {member.job_id for member in members}
    # A schedule batch also needs the edges to jobs outside it: such upstreams hold its runs.
    deps = (
        {job: [up for up, _ in ups] for job, ups in upstreams_of(session, member_ids).items()}
        if downstream or trigger == "schedule"
        else {}
    )
    if dry_run:
        refusing = [m.job_id for m in members if not m.supports_dry_run]
        if refusing:
            raise TriggerError(
                f"cannot dry-run: {', '.join(refusing)} cannot run in a rolled-back transaction"
            )
    return [
        (
            member,
            sorted(
                up
                for up in deps.get(member.job_id, [])
                if trigger == "schedule" or up in member_ids
            ),
        )
        for member in members
    ]


def trigger(
    session: Session,
    *,
    job_id: str,
    params: Mapping[str, Any] | None = None,
    downstream: bool = False,
    concurrency: int | None = None,
    dry_run: bool = False,
    requested_by: str = "system",
    role: str = "",
    reason: str = "",
    trigger: str = "manual",
    scheduled_for: datetime | None = None,
    specs: Mapping[str, JobSpec] | None = None,
    audit_action: str | None = "run.trigger",
) -> TriggerResult:
    """Create a batch of queued runs in the caller's transaction; validate everything first.

    A run starts `waiting` while an upstream run of its batch holds it. In a schedule batch an
    upstream job outside the batch holds it too, until the dispatcher sees a recent enough
    success of that job (see engine/dispatch.py); other triggers ignore outside upstreams.
    """
    _check_text(reason=reason, requested_by=requested_by)
    job = runnable_job(session, job_id)
    specs = catalog.job_specs() if specs is None else specs
    clean_params = validate_params(specs.get(job_id), job_id, params)
    check_concurrency(session, concurrency)
    planned = plan_batch(session, job, downstream=downstream, dry_run=dry_run, trigger=trigger)
    now = db_now(session)
    batch_id = str(uuid.uuid4())
    result = TriggerResult(batch_id=batch_id)
    for member, held_by in planned:
        run = Run(
            job_id=member.job_id,
            batch_id=batch_id,
            trigger=trigger,
            scheduled_for=scheduled_for or now,
            status=RunStatus.WAITING if held_by else RunStatus.QUEUED,
            status_detail=f"blocked by {', '.join(held_by)}" if held_by else "",
            dry_run=dry_run,
            params=clean_params if member.job_id == job_id else {},
            priority=member.priority,
            concurrency_override=concurrency,
            requested_by=requested_by,
            reason=reason,
            max_attempts=member.max_attempts,
            queued_at=now,
        )
        session.add(run)
        result.runs.append(run)
    session.flush()
    record_created(
        session,
        [
            (run, f"{trigger} trigger" + (f"; {run.status_detail}" if run.status_detail else ""))
            for run in result.runs
        ],
        actor=requested_by,
    )
    if audit_action:
        audit.record(
            session,
            actor=requested_by,
            role=role,
            action=audit_action,
            target=job_id,
            params={
                "params": clean_params,
                "downstream": downstream,
                "concurrency": concurrency,
                "dry_run": dry_run,
                "batch_id": batch_id,
                "run_ids": result.run_ids,
            },
            reason=reason,
        )
    return result
