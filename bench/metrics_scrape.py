"""Metrics benchmark: what one /metrics scrape and the console's database figures cost at scale.

Seeds `--runs` runs over 30 days (with attempts) for `--jobs` jobs into a private PostgreSQL
database, then times the exporter's read (two aggregate queries) and the 24 h window figures
(the Metrics views' database fallback), each a few times, and prints median and max. A web
process reads all runs once; later scrapes re-read only runs not yet final (and the newest 1,000).

    .venv/bin/python bench/metrics_scrape.py [--runs 1000000] [--jobs 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._setup import machine, private_services  # noqa: E402


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds) * 1000, max(seconds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with private_services("metrics") as (db_url, redis_url):
        os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = db_url, redis_url
        from etl_orchestrator import db
        from etl_orchestrator.examples.scale_seed import seed_scale
        from etl_orchestrator.migrations import upgrade
        from etl_orchestrator.observability import figures as f
        from etl_orchestrator.observability.exporter import Settled, read_snapshot
        from etl_orchestrator.observability.metrics_report import database_now, from_database

        upgrade(db_url)
        engine = db.get_engine(db_url)
        counts = seed_scale(engine, jobs=args.jobs, runs=args.runs)
        print(
            f"seeded {counts.runs:,} runs, {counts.attempts:,} attempts in {counts.seconds:.0f} s"
        )
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

        settled = Settled()

        def first_scrape() -> None:
            with db.session_scope() as session:
                read_snapshot(session, 50)

        def later_scrape() -> None:
            with db.session_scope() as session:
                read_snapshot(session, 50, settled)

        later_scrape()  # a web process's first scrape: settles the final runs

        def window() -> None:
            from_database(None, f.Window(end=database_now()))

        def one_job() -> None:
            from_database("scale_0000001", f.Window(end=database_now()))

        for name, fn in (("exporter, a process's first read (all runs)", first_scrape),
                         ("exporter, later reads (unsettled runs only)", later_scrape),
                         ("24 h figures, all jobs (database)", window),
                         ("24 h figures, one job (database)", one_job)):  # fmt: skip
            median, worst = timed(fn, args.repeat)
            print(f"{name}: median {median:.0f} ms, max {worst:.0f} ms")

        # The seed leaves 2-3 % of runs unfinished at every age (a live system's reaper ends
        # them), which makes every later read start at the oldest: the worst case above. End
        # those older than an hour, as the reaper would, and measure the usual case.
        with engine.begin() as conn:
            ended = conn.exec_driver_sql(
                "UPDATE dw_etl_runs SET status = 'failed', ended_at = queued_at "
                "WHERE status NOT IN ('succeeded', 'failed', 'cancelled', 'upstream_failed') "
                "AND queued_at < now() - interval '1 hour'"
            ).rowcount
        later_scrape()
        median, worst = timed(later_scrape, args.repeat)
        print(
            f"exporter, later reads after ending {ended:,} stale unfinished runs: "
            f"median {median:.0f} ms, max {worst:.0f} ms"
        )
        db.dispose_engines(close=True)


if __name__ == "__main__":
    main()
