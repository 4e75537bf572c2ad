"""Observability fixtures: finished runs (with attempts) written straight to the database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import pytest

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, Run, RunAttempt
from etl_orchestrator.timeutil import utcnow

MakeRun = Callable[..., int]


def add_finished_run(
    job_id: str,
    status: str = "succeeded",
    *,
    dry_run: bool = False,
    ended_at: datetime | None = None,
    duration_s: float = 10.0,
    records_written: int = 0,
    attempts: Sequence[str | None] = (None,),
) -> int:
    """A run that ended `ended_at` (default: now) after `duration_s`, with one attempt per
    entry of `attempts` (its error class; None: the attempt did not fail)."""
    ended = ended_at or utcnow()
    started = ended - timedelta(seconds=duration_s)
    with session_scope() as session:
        if session.get(Job, job_id) is None:
            session.add(Job(job_id=job_id, name=job_id))
            session.flush()
        run = Run(
            job_id=job_id,
            batch_id="b",
            status=status,
            dry_run=dry_run,
            started_at=started,
            ended_at=ended,
            duration_s=duration_s,
            records_written=records_written,
            attempts=len(attempts),
        )
        session.add(run)
        session.flush()
        assert run.run_id is not None
        for number, error_class in enumerate(attempts, start=1):
            session.add(
                RunAttempt(
                    run_id=run.run_id,
                    attempt=number,
                    token=f"t{number}",
                    started_at=started,
                    ended_at=ended,
                    outcome="failed" if error_class else "succeeded",
                    error_class=error_class,
                )
            )
        return run.run_id


@pytest.fixture
def finished_run() -> MakeRun:
    return add_finished_run
