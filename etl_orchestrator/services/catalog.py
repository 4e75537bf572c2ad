"""The jobs declared in code for this process (ETL_JOBS_MODULES), loaded once and cached."""

from __future__ import annotations

import threading

from etl_orchestrator.config import get_settings
from etl_orchestrator.jobs.spec import JobSpec

_lock = threading.Lock()
_cache: dict[tuple[str, ...], dict[str, JobSpec]] = {}


def job_specs(modules: tuple[str, ...] | None = None) -> dict[str, JobSpec]:
    """Declared jobs by id; raises DeclarationError if the code declares something invalid."""
    from etl_orchestrator.jobs.registry import load_jobs

    key = modules or get_settings().etl_jobs_modules
    with _lock:
        if key not in _cache:
            _cache[key] = load_jobs(key)
        return _cache[key]


def clear() -> None:
    with _lock:
        _cache.clear()
