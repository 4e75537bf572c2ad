"""Jobs for the alert tests (module level, so a worker's child process can import them)."""

from __future__ import annotations

from etl_orchestrator.jobs import PermanentError, RetryPolicy, RunContext, job


@job(id="always_fails", retry=RetryPolicy(max_attempts=1, base_s=0, jitter=0))
def always_fails(ctx: RunContext) -> None:
    """Fails for good on its first attempt: a contract the data breaks."""
    raise PermanentError(f"order lines break the contract (run {ctx.run_id})")
