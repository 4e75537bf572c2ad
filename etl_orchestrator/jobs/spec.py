"""What a job is in code: its spec, retry policy, dependencies, and the @job decorator."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel

from etl_orchestrator.jobs.errors import DeclarationError, ErrorClass

DepType = Literal["success", "completion"]
JOB_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")


class Dep(NamedTuple):
    """An upstream job and what it must have done: succeeded, or merely finished."""

    job_id: str
    type: DepType = "success"


@dataclass(frozen=True)
class RetryPolicy:
    """Up to `max_attempts` attempts; wait min(max_s, base_s * factor**(n-1)) ± jitter between."""

    max_attempts: int = 3
    base_s: float = 2.0
    factor: float = 2.0
    max_s: float = 60.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 100:
            raise DeclarationError("RetryPolicy.max_attempts must be from 1 to 100")
        if self.base_s < 0 or self.max_s < 0 or self.factor < 1:
            raise DeclarationError("RetryPolicy needs base_s >= 0, max_s >= 0 and factor >= 1")
        if not 0 <= self.jitter < 1:
            raise DeclarationError("RetryPolicy.jitter is a fraction from 0 to below 1")

    def describe(self) -> str:
        jitter = f", ±{round(self.jitter * 100)}% jitter" if self.jitter else ""
        return (
            f"up to {self.max_attempts} attempts, {self.base_s:g} s × {self.factor:g}ⁿ, "  # noqa: RUF001
            f"max {self.max_s:g} s{jitter}"
        )


@dataclass(frozen=True)
class JobSpec:
    """One declared job, as the registry and `jobs sync` see it."""

    id: str
    name: str
    kind: Literal["python", "sql"]
    fn: Callable[..., Any] | None = None
    sql: str | None = None
    description: str = ""
    cron: str | None = None
    timezone: str = "UTC"
    depends_on: tuple[Dep, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = 3600.0
    wait_timeout_s: float = 6 * 3600.0
    params: type[BaseModel] | None = None
    priority: int = 0
    tags: tuple[str, ...] = ()
    domain: str = ""
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    enabled: bool = True
    supports_dry_run: bool = True
    catchup: Literal["latest", "all", "none"] = "latest"
    classify: Callable[[BaseException], ErrorClass | None] | None = None
    #: Run in a worker thread instead of a forked process: no fork per attempt, but a timeout or
    #: cancel can only ask the job to stop (ctx.check_cancelled()), not kill it.
    cooperative: bool = False
    #: Run in a worker's pooled process that serves attempt after attempt (engine/pool.py):
    #: killable like a fresh child, without a fork per attempt. For jobs that leave nothing in
    #: the process that matters to the next attempt (module state, environment, working folder).
    reuse_process: bool = False
    source: str = ""

    @property
    def isolation(self) -> Literal["process", "pooled", "thread"]:
        """Where its attempts run: a fresh forked process, a pooled process, or a worker thread."""
        if self.cooperative:
            return "thread"
        return "pooled" if self.reuse_process else "process"

    @property
    def entrypoint(self) -> str:
        if self.fn is not None:
            return f"{self.fn.__module__}:{self.fn.__qualname__}"
        return self.source

    def params_schema(self) -> dict[str, Any] | None:
        return None if self.params is None else self.params.model_json_schema()


def _deps(depends_on: Sequence[str | Dep | tuple[str, str]]) -> tuple[Dep, ...]:
    deps: list[Dep] = []
    for item in depends_on:
        if isinstance(item, str):
            deps.append(Dep(item))
        else:
            job_id, dep_type = item
            if dep_type not in ("success", "completion"):
                raise DeclarationError(
                    f"dependency on {job_id!r} has type {dep_type!r}: use 'success' or 'completion'"
                )
            deps.append(Dep(job_id, dep_type))  # type: ignore[arg-type]
    return tuple(deps)


def make_spec(**kwargs: Any) -> JobSpec:
    """Build a JobSpec, refusing what cannot be valid whatever else is declared."""
    job_id = kwargs["id"]
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise DeclarationError(
            f"job id {job_id!r} is invalid: use lower-case letters, digits, '_', '-' or '.', "
            "starting with a letter or digit, at most 128 characters"
        )
    params = kwargs.get("params")
    if params is not None and not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise DeclarationError(
            f"job {job_id!r}: params={params!r} is not a pydantic model class; "
            "declare `class MyParams(BaseModel): ...` and pass params=MyParams"
        )
    kwargs["depends_on"] = _deps(kwargs.get("depends_on", ()))
    for key in ("tags", "reads", "writes"):
        kwargs[key] = tuple(kwargs.get(key, ()))
    if kwargs.get("cooperative") and kwargs.get("kind") != "python":
        raise DeclarationError(
            f"job {job_id!r}: only Python jobs can be cooperative; a SQL job runs in a process "
            "of its own so that its timeout can always stop it"
        )
    if kwargs.get("cooperative") and kwargs.get("reuse_process"):
        raise DeclarationError(
            f"job {job_id!r}: cooperative runs in a worker thread and reuse_process in a pooled "
            "process; choose one"
        )
    if kwargs.get("timeout_s", 1) <= 0:
        raise DeclarationError(f"job {job_id!r}: timeout_s must be positive")
    return JobSpec(**kwargs)


def job(
    *,
    id: str,
    name: str | None = None,
    description: str | None = None,
    cron: str | None = None,
    timezone: str = "UTC",
    depends_on: Sequence[str | Dep | tuple[str, str]] = (),
    retry: RetryPolicy | None = None,
    timeout_s: float = 3600.0,
    wait_timeout_s: float = 6 * 3600.0,
    params: type[BaseModel] | None = None,
    priority: int = 0,
    tags: Sequence[str] = (),
    domain: str = "",
    reads: Sequence[str] = (),
    writes: Sequence[str] = (),
    enabled: bool = True,
    supports_dry_run: bool = True,
    catchup: Literal["latest", "all", "none"] = "latest",
    classify: Callable[[BaseException], ErrorClass | None] | None = None,
    cooperative: bool = False,
    reuse_process: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a Python job: `fn(ctx: RunContext, params)` or `fn(ctx)` without params."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        spec = make_spec(
            id=id,
            name=name or id.replace("_", " "),
            kind="python",
            fn=fn,
            description=description if description is not None else (fn.__doc__ or "").strip(),
            cron=cron,
            timezone=timezone,
            depends_on=depends_on,
            retry=retry or RetryPolicy(),
            timeout_s=timeout_s,
            wait_timeout_s=wait_timeout_s,
            params=params,
            priority=priority,
            tags=tags,
            domain=domain,
            reads=reads,
            writes=writes,
            enabled=enabled,
            supports_dry_run=supports_dry_run,
            catchup=catchup,
            classify=classify,
            cooperative=cooperative,
            reuse_process=reuse_process,
        )
        fn.__etl_job__ = spec  # type: ignore[attr-defined]
        return fn

    return decorate


def spec_of(obj: Any) -> JobSpec | None:
    spec = getattr(obj, "__etl_job__", None)
    return spec if isinstance(spec, JobSpec) else None
