"""`etl-orchestrator scheduler` and `worker`: the engine's long-running processes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from typing import Any

from redis.exceptions import RedisError

from etl_orchestrator import events
from etl_orchestrator.cli import CommandError

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    scheduler = subparsers.add_parser(
        "scheduler",
        help="fire cron ticks and dispatch runs under the ETL_PARALLEL_JOBS cap "
        "(one leads; start another anywhere as a hot standby)",
    )
    scheduler.add_argument(
        "--lease-ttl",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="leader lease lifetime: a standby takes over about this long after the leader dies",
    )
    scheduler.set_defaults(func=_scheduler)
    worker = subparsers.add_parser("worker", help="run attempts delivered through arq")
    worker.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    worker.set_defaults(func=_worker)


def _scheduler(args: argparse.Namespace) -> int:
    from etl_orchestrator.engine.scheduler import Scheduler

    if not 1.0 <= args.lease_ttl <= 300.0:
        raise CommandError(f"--lease-ttl {args.lease_ttl:g} is out of range: use 1 to 300 seconds")
    events.install()
    scheduler = Scheduler(lease_ttl_s=args.lease_ttl)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, scheduler.stop)
        log.info("scheduler %s started", scheduler.holder)
        await scheduler.run()
        log.info("scheduler stopped")

    asyncio.run(main())
    return 0


def _worker(args: argparse.Namespace) -> int:
    """Supervises the arq worker: it rides out Redis outages, but cannot start without Redis."""
    delay = 1.0
    while True:
        try:
            _run_worker_once(burst=args.burst)
            return 0
        except (RedisError, OSError) as error:
            if args.burst:
                raise CommandError(f"worker could not reach Redis: {error}") from error
            log.warning("worker cannot reach Redis (%s); trying again in %.0f s", error, delay)
        except KeyboardInterrupt:
            return 0
        try:
            time.sleep(delay)
        except KeyboardInterrupt:
            return 0
        delay = min(delay * 2, 10.0)


def _run_worker_once(*, burst: bool) -> None:
    """One arq worker on a fresh event loop, closed after it so a failed start leaves nothing.

    Closing the loop also drops arq's signal handlers, so SIGTERM stops us during the backoff.
    """
    from etl_orchestrator.engine.worker import build_worker

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        build_worker(burst=burst).run()
    finally:
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)
