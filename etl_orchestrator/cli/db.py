"""`etl-orchestrator db ...`: migrations, and turning database failures into advice."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import errors as pg_errors
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from etl_orchestrator import migrations
from etl_orchestrator.cli import CommandError
from etl_orchestrator.config import get_settings
from etl_orchestrator.db import normalize_url


def database_label() -> str:
    """DATABASE_URL (or the embedded SQLite file) with any password hidden."""
    url = normalize_url(get_settings().effective_database_url)
    return make_url(url).render_as_string(hide_password=True)


def _missing_table(error: DBAPIError) -> bool:
    if isinstance(error.orig, pg_errors.UndefinedTable):
        return True
    return isinstance(error, OperationalError) and "no such table" in str(error.orig)


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn 'no tables yet' and 'cannot connect' into CommandErrors that say what to do."""
    try:
        yield
    except (OperationalError, ProgrammingError) as error:
        if _missing_table(error):
            raise CommandError(
                f"the database {database_label()} has no orchestrator tables yet; "
                "run `etl-orchestrator db upgrade` first"
            ) from error
        if isinstance(error, OperationalError):
            raise CommandError(
                f"cannot use the database {database_label()}: {error.orig}; "
                "check DATABASE_URL and that the database server is running"
            ) from error
        raise


def _upgrade(args: argparse.Namespace) -> int:
    with database_errors():
        migrations.upgrade(revision=args.revision)
    where = "the latest schema" if args.revision == "head" else f"revision {args.revision}"
    print(f"database {database_label()} is at {where}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("db", help="manage the orchestrator database")
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade",
        help="create or migrate the tables (safe to run again: it only applies what is new)",
    )
    upgrade.add_argument(
        "--revision", default="head", help="migrate up to this revision (default: the latest)"
    )
    upgrade.set_defaults(func=_upgrade)
