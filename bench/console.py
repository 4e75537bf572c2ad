"""Console benchmark on the scale seed: the jobs table's queries, page changes and live rows.

Seeds a private PostgreSQL database (`demo seed-scale`), then prints:
- server side, p50/p95 of the jobs table's page read (list_jobs, and list_jobs + the rows'
  activity as the page does it) for every sort both ways and every filter, at the first, a
  middle and the last page (the cursors of the middle and last pages are found beforehand);
- in Chromium against the built console (`etl-orchestrator web`): page change time (click
  "Next page" until the new rows are on screen) and a worker's status change (a run's
  transition committed) until the open table shows it.

    .venv/bin/python bench/console.py [--jobs 100000] [--runs 1000000] [--samples 20]
                                      [--no-browser] [--keep | --reuse DATABASE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._setup import machine, private_services  # noqa: E402

PAGE = 50
PASSWORD = "bench-password"  # a throwaway user of a throwaway database
TARGET_QUERY_MS = 20.0
TARGET_PAGE_MS = 300.0
TARGET_LIVE_MS = 500.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def views() -> list[tuple[str, dict[str, Any]]]:
    """(label, list_jobs options): every sort both ways, then every filter."""
    from etl_orchestrator.services import job_queries

    found: list[tuple[str, dict[str, Any]]] = []
    for sort in job_queries.SORTS:
        for descending in (False, True):
            label = f"sort {sort} {'desc' if descending else 'asc'}"
            found.append((label, {"sort": sort, "descending": descending}))
    for label, options in (
        ("enabled", {"enabled": True}),
        ("disabled", {"enabled": False}),
        ("last outcome success", {"last_outcome": "success"}),
        ("last outcome fail", {"last_outcome": "fail"}),
        ("tag pii", {"tags": ["pii"]}),
        ("domain finance", {"domain": "finance"}),
        ("search 'orders'", {"search": "orders"}),
        ("search 'no-such'", {"search": "no-such"}),
        ("fail + domain hr, by name", {"last_outcome": "fail", "domain": "hr", "sort": "name"}),
    ):
        found.append((f"filter {label}", {"sort": "job_id", **options}))
    return found


def page_cursors(options: dict[str, Any]) -> dict[str, str | None]:
    """The `after` cursor of the first, a middle and the last page of a view.

    Found with one OFFSET query each (setup, not measured): the row just before the page.
    """
    from sqlalchemy import func, select

    from etl_orchestrator.db import session_scope
    from etl_orchestrator.services import job_queries
    from etl_orchestrator.services.job_queries import filtered_query

    sort, descending = options.get("sort", "job_id"), options.get("descending", False)
    filters = {k: options.get(k) for k in ("enabled", "last_outcome", "domain", "search")}
    with session_scope() as session:
        query = filtered_query(session, tags=options.get("tags", ()), **filters)
        total = int(
            session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        )
        cursors: dict[str, str | None] = {"first": None}
        for name, index in (("middle", total // 2), ("last", max(total - PAGE, 0))):
            if index <= 0:
                cursors[name] = None
                continue
            # The row at index - 1 in the page order: walked to in steps of MAX_PAGE rows.
            after = None
            remaining = index
            while remaining > 0:
                step = min(remaining, job_queries.MAX_PAGE)
                page = job_queries.list_jobs(session, after=after, limit=step, **options)
                if not page.jobs:
                    break
                last = page.jobs[-1]
                after = job_queries.encode_cursor(
                    sort, descending, getattr(last, sort), last.job_id
                )
                remaining -= len(page.jobs)
            cursors[name] = after
    return cursors


def time_ms(fn: Callable[[], Any], samples: int) -> list[float]:
    fn()  # warm: plans, connections
    out = []
    for _ in range(samples):
        began = time.perf_counter()
        fn()
        out.append((time.perf_counter() - began) * 1000)
    return out


def server_side(samples: int) -> list[tuple[str, str, list[float], list[float]]]:
    from etl_orchestrator.db import session_scope
    from etl_orchestrator.services import job_queries

    results = []
    for label, options in views():
        cursors = page_cursors(options)
        for where, cursor in cursors.items():
            if where != "first" and cursor is None:
                continue

            def listed(cursor: str | None = cursor, options: dict[str, Any] = options) -> Any:
                with session_scope() as session:
                    return job_queries.list_jobs(session, after=cursor, limit=PAGE, **options)

            def with_activity(
                cursor: str | None = cursor, options: dict[str, Any] = options
            ) -> None:
                # As the page reads it: the rows' activity in the same statement.
                with session_scope() as session:
                    job_queries.list_jobs(
                        session, after=cursor, limit=PAGE, with_activity=True, **options
                    )

            results.append(
                (label, where, time_ms(listed, samples), time_ms(with_activity, samples))
            )
    return results


def backwards(samples: int) -> list[float]:
    """A page before the middle one (prev_cursor), by name."""
    from etl_orchestrator.db import session_scope
    from etl_orchestrator.services import job_queries

    middle = page_cursors({"sort": "name"})["middle"]
    with session_scope() as session:
        page = job_queries.list_jobs(session, sort="name", after=middle, limit=PAGE)
    before = page.prev_cursor

    def listed() -> None:
        with session_scope() as session:
            job_queries.list_jobs(session, sort="name", before=before, limit=PAGE)

    return time_ms(listed, samples)


def start_console(db_url: str, redis_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    from tests.web.browser.support import BUILD_TIMEOUT_S, answers, free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "BASE_URL": base,
        "DATA_DIR": str(log.parent / "data"),
        "GRANIAN_WORKERS": "2",
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "etl_orchestrator", "web", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    while not answers(f"{base}/healthz"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the console did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return process, base


def browser_figures(base: str, samples: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright
    from sqlmodel import col, select

    from etl_orchestrator import events
    from etl_orchestrator.db import session_scope
    from etl_orchestrator.models import Job, Run
    from etl_orchestrator.services import runs
    from etl_orchestrator.states import RunStatus, transition
    from tests.web.browser.support import CHROMIUM

    rows = "#jobs-table tr.etl-job-row"
    figures: dict[str, list[float]] = {"page": [], "live": []}
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/signin")
        page.fill("#username", "bench")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        page.goto(base + "/jobs?sort=name")
        page.wait_for_selector(rows, timeout=60_000)
        for _ in range(samples):
            first = page.locator(rows).first.get_attribute("data-job-id")
            began = time.perf_counter()
            page.click("#jobs-next")
            page.wait_for_function(
                "(first) => { const r = document.querySelector("
                "'#jobs-table tr.etl-job-row'); return r && r.dataset.jobId !== first; }",
                arg=first,
                polling="raf",
            )
            figures["page"].append((time.perf_counter() - began) * 1000)

        # One job on screen; its runs move as a worker would move them (committed transitions
        # published to etl:events), and the row must show each move.
        with session_scope() as session:
            job_id = session.exec(
                select(Job.job_id).where(col(Job.enabled)).order_by(col(Job.job_id)).limit(1)
            ).one()
        page.goto(f"{base}/jobs?q={job_id}")
        page.wait_for_selector(f"{rows}[data-job-id='{job_id}']", timeout=60_000)
        events.install()
        last = f"{rows}[data-job-id='{job_id}'] .etl-job-last"

        def timed_move(
            run_id: int, to: RunStatus, attribute: str, value: str, **fields: Any
        ) -> None:
            time.sleep(0.6)  # past the jobs view's throttle: each change is measured alone
            with session_scope() as session:
                run = session.get(Run, run_id)
                assert run is not None
                transition(session, run, to, detail="bench", **fields)
            began = time.perf_counter()
            page.wait_for_selector(f"{last}[data-{attribute}='{value}']", timeout=10_000)
            figures["live"].append((time.perf_counter() - began) * 1000)

        for index in range(samples):
            with session_scope() as session:
                [run_id] = runs.trigger(
                    session, job_id=job_id, reason="bench", audit_action=None
                ).run_ids
            with session_scope() as session:
                run = session.get(Run, run_id)
                assert run is not None
                transition(session, run, RunStatus.DISPATCHED, detail="bench")
            timed_move(run_id, RunStatus.RUNNING, "active", "running")
            final = RunStatus.SUCCEEDED if index % 2 else RunStatus.FAILED
            timed_move(run_id, final, "status", str(final), duration_s=1.0 + index)
        chromium.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20, help="timings per figure")
    parser.add_argument("--no-browser", action="store_true", help="server-side figures only")
    parser.add_argument(
        "--keep", action="store_true", help="keep the seeded database (its name is printed)"
    )
    parser.add_argument(
        "--reuse",
        metavar="DATABASE",
        help="use a database kept by --keep instead of seeding (migrated to head first)",
    )
    args = parser.parse_args()
    with private_services("console", database=args.reuse, keep=args.keep) as (db_url, redis_url):
        os.environ.update(DATABASE_URL=db_url, REDIS_URL=redis_url)
        from sqlalchemy import text

        from etl_orchestrator.db import get_engine, session_scope
        from etl_orchestrator.examples.scale_seed import seed_scale
        from etl_orchestrator.migrations import upgrade
        from etl_orchestrator.services.users import add_user

        began = time.perf_counter()
        upgrade(db_url)
        counts = None
        if args.reuse is None:
            counts = seed_scale(get_engine(db_url), jobs=args.jobs, runs=args.runs)
        autocommit = get_engine(db_url).execution_options(isolation_level="AUTOCOMMIT")
        with autocommit.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
        seeded_s = time.perf_counter() - began
        if args.reuse is None:  # a kept database has the bench user already
            with session_scope() as session:
                add_user(session, username="bench", password=PASSWORD, role="operator")
        print(f"machine: {machine()}")
        if counts is None:
            print(
                f"seed:    reused database {args.reuse} (migrated, VACUUM ANALYZE {seeded_s:.0f} s)"
            )
        else:
            print(
                f"seed:    {counts.jobs:,} jobs, {counts.runs:,} runs, {counts.attempts:,} "
                f"attempts, {counts.logs:,} log lines in {seeded_s:.0f} s (with VACUUM ANALYZE)"
            )
        if args.keep:
            print(f"kept:    database {db_url.rsplit('/', 1)[1]} (pass --reuse to use it again)")
        server = server_side(args.samples)
        print(f"\njobs table page read, server side ({args.samples} samples each, ms, page {PAGE})")
        print(
            f"{'view':<34} {'page':<7} {'list p50':>8} {'p95':>7} {'+activity p50':>14} {'p95':>7}"
        )
        worst = 0.0
        for label, where, listed, full in server:
            worst = max(worst, pct(full, 0.95))
            print(
                f"{label:<34} {where:<7} {pct(listed, 0.5):8.2f} {pct(listed, 0.95):7.2f} "
                f"{pct(full, 0.5):14.2f} {pct(full, 0.95):7.2f}"
            )
        back = backwards(args.samples)
        print(
            f"{'sort name, page backwards':<34} {'middle':<7} "
            f"{pct(back, 0.5):8.2f} {pct(back, 0.95):7.2f}"
        )
        print(f"worst p95 (list + activity): {worst:.2f} ms (target <= {TARGET_QUERY_MS:.0f} ms)")
        if args.no_browser:
            return
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-console-{os.getpid()}" / "web.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        process, base = start_console(db_url, redis_url, log)
        try:
            figures = browser_figures(base, args.samples)
        finally:
            from tests.web.browser.support import stop

            stop(process)
        page, live = figures["page"], figures["live"]
        print(
            f"\nChromium page change (Next page, sort by name): p50 {pct(page, 0.5):.0f} ms, "
            f"p95 {pct(page, 0.95):.0f} ms (target <= {TARGET_PAGE_MS:.0f} ms)"
        )
        print(
            f"worker status change -> open table: p50 {pct(live, 0.5):.0f} ms, "
            f"p95 {pct(live, 0.95):.0f} ms over {len(live)} changes "
            f"(target p95 <= {TARGET_LIVE_MS:.0f} ms)"
        )


if __name__ == "__main__":
    main()
