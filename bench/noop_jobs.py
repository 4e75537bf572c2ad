"""No-op jobs for bench/engine.py: independent, a chain, a fan-out; in each isolation mode."""

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


def _specs(prefix: str, **isolation: bool) -> list[JobSpec]:
    """The jobs of one isolation mode: `noop_*`, `chain_*`, `fan_*`, behind `prefix`."""

    def one(name: str, deps: list[str] | None = None) -> JobSpec:
        return make_spec(
            id=prefix + name,
            name=prefix + name,
            kind="python",
            fn=noop,
            retry=_POLICY,
            depends_on=[prefix + dep for dep in deps or []],
            **isolation,
        )

    return (
        [one(f"noop_{i}") for i in range(N_RUNS)]
        + [one(f"chain_{i}", [f"chain_{i - 1}"] if i else []) for i in range(CHAIN)]
        + [one("fan_root")]
        + [one(f"fan_{i}", ["fan_root"]) for i in range(FANOUT - 1)]
    )


JOBS: list[JobSpec] = (
    _specs("") + _specs("pool_", reuse_process=True) + _specs("coop_", cooperative=True)
)
