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
        "scheduler", help="dispatch runs in dependency order under the ETL_PARALLEL_JOBS cap"
    )
    scheduler.set_defaults(func=_scheduler)
    worker = subparsers.add_parser("worker", help="run attempts delivered through arq")
    worker.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    worker.set_defaults(func=_worker)


def _scheduler(args: argparse.Namespace) -> int:
    from etl_orchestrator.engine.dispatcher import Dispatcher

    events.install()
    dispatcher = Dispatcher()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, dispatcher.stop)
        log.info("scheduler started")
        await dispatcher.run()
        log.info("scheduler stopped")

    asyncio.run(main())
    return 0


def _worker(args: argparse.Namespace) -> int:
    """Supervises the arq worker: a Redis outage makes arq exit, so start it again."""
    from etl_orchestrator.engine.worker import build_worker

    delay = 1.0
    while True:
        try:
            build_worker(burst=args.burst).run()
            return 0
        except (RedisError, OSError) as error:
            if args.burst:
                raise CommandError(f"worker could not reach Redis: {error}") from error
            log.warning("worker lost Redis (%s); starting again in %.0f s", error, delay)
        except KeyboardInterrupt:
            return 0
        try:
            time.sleep(delay)
        except KeyboardInterrupt:
            return 0
        delay = min(delay * 2, 30.0)
