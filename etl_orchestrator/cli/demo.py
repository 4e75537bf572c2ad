"""`etl-orchestrator demo seed-scale`: fill the database with many jobs and runs for demos."""

from __future__ import annotations

import argparse

from etl_orchestrator.cli import CommandError
from etl_orchestrator.cli.db import database_errors, database_label
from etl_orchestrator.db import get_engine
from etl_orchestrator.examples import scale_seed


def _seed_scale(args: argparse.Namespace) -> int:
    if args.jobs < 1 or args.runs < 0:
        raise CommandError("--jobs must be at least 1 and --runs at least 0")
    with database_errors():
        try:
            counts = scale_seed.seed_scale(
                get_engine(), jobs=args.jobs, runs=args.runs, seed=args.seed, replace=args.replace
            )
        except scale_seed.ScaleSeedExists as error:
            raise CommandError(str(error)) from None
    rate = counts.runs / counts.seconds if counts.seconds > 0 else 0.0
    print(
        f"seeded {database_label()}: {counts.jobs} jobs, {counts.dependencies} dependencies, "
        f"{counts.runs} runs, {counts.attempts} attempts, {counts.logs} log lines, "
        f"{counts.events} events in {counts.seconds:.1f} s ({rate:,.0f} runs/s)"
    )
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("demo", help="demo data for the console")
    actions = parser.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    seed = actions.add_parser(
        "seed-scale",
        help="insert many scale_* jobs with dependencies, runs, attempts, logs and events",
    )
    seed.add_argument("--jobs", type=int, required=True, help="how many jobs")
    seed.add_argument("--runs", type=int, required=True, help="how many runs in all")
    seed.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    seed.add_argument(
        "--replace", action="store_true", help="delete existing scale_* jobs and runs first"
    )
    seed.set_defaults(func=_seed_scale)
