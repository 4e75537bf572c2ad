"""Jobs the outage drills run: each notes its start and end in a journal file the test reads."""

from __future__ import annotations

import os
import time

from pydantic import BaseModel

from etl_orchestrator.jobs import RetryPolicy, RunContext, job

JOURNAL_ENV = "DRILL_JOURNAL"


class NapParams(BaseModel):
    seconds: float = 1.0


def note(event: str, ctx: RunContext) -> None:
    """One line per event; O_APPEND keeps concurrent writers' short lines whole."""
    line = f"{event} {ctx.run_id} {ctx.attempt} {time.time():.6f}\n"
    fd = os.open(os.environ[JOURNAL_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


# One attempt only: an attempt lost to an outage shows up as a failed run, not a hidden retry.
@job(id="drill_nap", params=NapParams, retry=RetryPolicy(max_attempts=1, base_s=0, jitter=0))
def drill_nap(ctx: RunContext, p: NapParams) -> None:
    """Sleeps for a while between its journal lines."""
    note("start", ctx)
    time.sleep(p.seconds)
    note("end", ctx)


@job(
    id="drill_nap_twice",
    params=NapParams,
    retry=RetryPolicy(max_attempts=2, base_s=0.2, jitter=0),
    timeout_s=60,
)
def drill_nap_twice(ctx: RunContext, p: NapParams) -> None:
    """Like drill_nap, with a second attempt for a run whose worker died under it."""
    note("start", ctx)
    time.sleep(p.seconds)
    note("end", ctx)


@job(
    id="drill_nap_twice_pooled",
    params=NapParams,
    retry=RetryPolicy(max_attempts=2, base_s=0.2, jitter=0),
    timeout_s=60,
    reuse_process=True,
)
def drill_nap_twice_pooled(ctx: RunContext, p: NapParams) -> None:
    """drill_nap_twice in a pooled process: that process must die with its worker too."""
    drill_nap_twice(ctx, p)
