"""Jobs for the recovery drills, loaded by real worker processes through ETL_JOBS_MODULES."""

from __future__ import annotations

import os
import time

import redis

from etl_orchestrator.jobs import RetryPolicy, RunContext, job

STARTS_KEY = "drill:starts"
GATE_KEY = "drill:gate"


@job(id="drill_hold", retry=RetryPolicy(max_attempts=3, base_s=0, jitter=0))
def drill_hold(ctx: RunContext) -> None:
    """Records each start as "attempt:pid"; the first attempt holds until the gate opens."""
    probe = redis.Redis.from_url(os.environ["REDIS_URL"])
    probe.rpush(STARTS_KEY, f"{ctx.attempt}:{os.getpid()}")
    if ctx.attempt > 1:
        return
    deadline = time.monotonic() + 60
    while probe.get(GATE_KEY) != b"open" and time.monotonic() < deadline:
        time.sleep(0.02)
