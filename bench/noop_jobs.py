"""No-op jobs for bench/engine.py: independent ones, a chain and a fan-out (sizes from the env)."""

from __future__ import annotations

import os

from etl_orchestrator.jobs import RetryPolicy, RunContext
from etl_orchestrator.jobs.spec import JobSpec, make_spec

N_RUNS = int(os.environ.get("BENCH_RUNS", "2000"))
CHAIN = int(os.environ.get("BENCH_CHAIN", "20"))
FANOUT = int(os.environ.get("BENCH_FANOUT", "100"))
_POLICY = RetryPolicy(max_attempts=1, base_s=0, jitter=0)


def noop(ctx: RunContext) -> None:
    """Does nothing: what is measured is the engine around it."""


def _spec(job_id: str, deps: list[str] | None = None) -> JobSpec:
    return make_spec(
        id=job_id, name=job_id, kind="python", fn=noop, retry=_POLICY, depends_on=deps or []
    )


JOBS: list[JobSpec] = (
    [_spec(f"noop_{i}") for i in range(N_RUNS)]
    + [_spec(f"chain_{i}", [f"chain_{i - 1}"] if i else []) for i in range(CHAIN)]
    + [_spec("fan_root")]
    + [_spec(f"fan_{i}", ["fan_root"]) for i in range(FANOUT - 1)]
)
