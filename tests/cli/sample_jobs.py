"""Jobs for the CLI tests, loaded through ETL_JOBS_MODULES the way a deployment's are."""

from __future__ import annotations

import os
import time

import redis
from pydantic import BaseModel

from etl_orchestrator.jobs import PermanentError, RetryPolicy, RunContext, job

ONCE = RetryPolicy(max_attempts=1, base_s=0, jitter=0)
GATE_KEY = "cli-test-gate"


class GreetParams(BaseModel):
    name: str
    times: int = 1


@job(id="greet", params=GreetParams, retry=ONCE)
def greet(ctx: RunContext, p: GreetParams) -> None:
    """Logs one line per greeting."""
    for number in range(1, p.times + 1):
        ctx.log.info("hello %s #%d", p.name, number)
    ctx.lineage(read=p.times, written=p.times)


@job(id="noop", retry=ONCE)
def noop(ctx: RunContext) -> None:
    """Does nothing: a cheap run to page through."""


@job(id="fails", retry=ONCE)
def fails(ctx: RunContext) -> None:
    """Always fails permanently."""
    ctx.log.warning("about to fail")
    raise PermanentError("the source file is missing")


@job(id="after_fails", depends_on=["fails"], retry=ONCE)
def after_fails(ctx: RunContext) -> None:
    """Never runs: its upstream always fails."""


@job(id="gated", retry=ONCE)
def gated(ctx: RunContext) -> None:
    """Logs a line, holds until the test opens the gate in Redis, then logs another."""
    ctx.log.info("before the gate")
    probe = redis.Redis.from_url(os.environ["REDIS_URL"])
    deadline = time.monotonic() + 60
    while probe.get(GATE_KEY) != b"open" and time.monotonic() < deadline:
        time.sleep(0.02)
    ctx.log.info("after the gate")
