"""Finds the jobs declared in the configured modules and checks them together before any use."""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Iterable, Sequence
from typing import Any

from etl_orchestrator.config import get_settings
from etl_orchestrator.cron import CronError, validate_cron, validate_timezone
from etl_orchestrator.dag import find_cycle
from etl_orchestrator.jobs.errors import DeclarationError
from etl_orchestrator.jobs.spec import JobSpec, spec_of


class DeclarationProblems(DeclarationError):
    """Several declaration problems found at once; `.problems` holds one message per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        heading = "1 problem" if count == 1 else f"{count} problems"
        lines = "\n".join(f"- {problem}" for problem in self.problems)
        super().__init__(
            f"{heading} in the declared jobs (fix them all, then sync again):\n{lines}"
        )


def default_modules() -> tuple[str, ...]:
    """The jobs modules named by ETL_JOBS_MODULES (comma-separated)."""
    return tuple(get_settings().etl_jobs_modules)


def _specs_in(value: Any) -> list[JobSpec]:
    if isinstance(value, JobSpec):
        return [value]
    spec = spec_of(value)
    if spec is not None:
        return [spec]
    if isinstance(value, list | tuple) and value and all(isinstance(v, JobSpec) for v in value):
        return list(value)
    return []


def collect(modules: Sequence[str]) -> tuple[list[JobSpec], list[str]]:
    """Import each module and gather its jobs; return the specs and one message per failed import.

    A job reachable from several attributes or modules (one module re-exporting another's job)
    is the same object and counts once.
    """
    importlib.invalidate_caches()  # module files written since start-up must be found
    specs: list[JobSpec] = []
    seen: set[int] = set()
    problems: list[str] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except DeclarationError as error:
            # sql_jobs() reports one file problem per line: keep them as separate problems.
            problems.extend(
                f"jobs module {name!r} declares an invalid job: {line}"
                for line in str(error).splitlines()
                if line.strip()
            )
            continue
        except Exception as error:
            problems.append(
                f"jobs module {name!r} could not be imported: {type(error).__name__}: {error}"
                " (check ETL_JOBS_MODULES and that the module imports cleanly)"
            )
            continue
        for attr, value in vars(module).items():
            for spec in _specs_in(value):
                if id(spec) in seen:
                    continue
                seen.add(id(spec))
                if not spec.entrypoint:
                    spec = dataclasses.replace(spec, source=f"{name}.{attr}")
                specs.append(spec)
    return specs, problems


def _origin(spec: JobSpec) -> str:
    return spec.entrypoint or "an unnamed JobSpec"


def _upstream_problems(spec: JobSpec, declared: Sequence[str], *, check_unknown: bool) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for dep in spec.depends_on:
        if dep.job_id in seen:
            problems.append(
                f"job {spec.id!r} lists {dep.job_id!r} more than once in depends_on; keep one"
            )
            continue
        seen.add(dep.job_id)
        if dep.job_id in declared or not check_unknown:
            continue
        close = difflib.get_close_matches(dep.job_id, declared, n=3)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(sorted(declared)) or "none"
        problems.append(
            f"job {spec.id!r} depends on {dep.job_id!r}, which is not declared; "
            f"declared jobs: {listing}.{hint}"
        )
    return problems


def _schedule_problems(spec: JobSpec) -> list[str]:
    problems: list[str] = []
    if spec.cron is not None:
        try:
            validate_cron(spec.cron)
        except CronError as error:
            problems.append(f"job {spec.id!r}: {error}")
    try:
        validate_timezone(spec.timezone)
    except CronError as error:
        problems.append(f"job {spec.id!r}: {error}")
    if spec.cron and spec.params is not None:
        required = [name for name, field in spec.params.model_fields.items() if field.is_required()]
        if required:
            # Every tick would be skipped: a scheduled run takes the model's defaults.
            problems.append(
                f"job {spec.id!r} runs on cron {spec.cron!r} but its params model requires "
                f"{', '.join(required)}: a scheduled run takes the model's defaults, so give "
                "these fields defaults or run the job without a cron"
            )
    return problems


def _params_problems(spec: JobSpec) -> list[str]:
    try:
        spec.params_schema()
    except Exception as error:  # pydantic refuses to describe some field types
        return [
            f"job {spec.id!r}: its params model has no JSON Schema ({type(error).__name__}: "
            f"{error}); use field types pydantic can describe, so the console can build a form"
        ]
    return []


def validate(
    specs: Iterable[JobSpec], *, earlier_problems: Sequence[str] = ()
) -> dict[str, JobSpec]:
    """Check the jobs as a whole and return them by id, or raise DeclarationProblems listing all.

    Checked: duplicate ids, unknown or repeated upstreams, dependency cycles, cron expressions,
    timezones, cron jobs whose params have required fields, and that each params model has a
    JSON Schema. `earlier_problems` (failed
    imports) are reported first; when there are any, unknown-upstream checks are skipped
    because the module that failed may declare those jobs.
    """
    problems = list(earlier_problems)
    by_id: dict[str, JobSpec] = {}
    for spec in specs:
        first = by_id.get(spec.id)
        if first is not None:
            problems.append(
                f"job id {spec.id!r} is declared twice: by {_origin(first)} and by "
                f"{_origin(spec)}; job ids must be unique"
            )
            continue
        by_id[spec.id] = spec
    declared = list(by_id)
    for spec in by_id.values():
        problems.extend(_upstream_problems(spec, declared, check_unknown=not earlier_problems))
        problems.extend(_schedule_problems(spec))
        problems.extend(_params_problems(spec))
    deps = {
        job_id: [dep.job_id for dep in spec.depends_on if dep.job_id in by_id]
        for job_id, spec in by_id.items()
    }
    cycle = find_cycle(deps)
    if cycle:
        problems.append(f"dependency cycle: {' -> '.join(cycle)}; remove one of these dependencies")
    if problems:
        raise DeclarationProblems(problems)
    return by_id


def load_jobs(modules: Sequence[str]) -> dict[str, JobSpec]:
    """Import the modules, gather their jobs and validate them; DeclarationProblems if invalid."""
    specs, problems = collect(modules)
    return validate(specs, earlier_problems=problems)
