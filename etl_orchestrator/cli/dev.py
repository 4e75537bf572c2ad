"""`etl-orchestrator dev`: the whole product on one machine, stopped with one Ctrl-C."""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from etl_orchestrator import cli
from etl_orchestrator.cli.db import database_errors, database_label
from etl_orchestrator.cli.web import port_of
from etl_orchestrator.config import Settings, get_settings
from etl_orchestrator.db import session_scope
from etl_orchestrator.embedded_redis import EmbeddedRedisError, start_embedded_redis
from etl_orchestrator.migrations import upgrade
from etl_orchestrator.models import User
from etl_orchestrator.services.users import add_user
from etl_orchestrator.supervisor import ChildSpec, Supervisor, stop_on_signals

#: Long-running commands `dev` keeps alive, in start order; only those this version has run.
SERVICE_COMMANDS = ("scheduler", "worker")
WEB_COMMAND = "web"
LOCK_NAME = "dev.lock"
#: Console users `dev` creates for trying the roles out; the user name is also the role.
DEMO_USERS = (("admin", "demo-admin"), ("operator", "demo-operator"), ("viewer", "demo-viewer"))


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dev",
        help="run everything on this machine (embedded Redis, SQLite, scheduler, worker, web)",
        description=(
            "Start a private Redis (unless REDIS_URL is set), migrate the database, sync the "
            "declared jobs, then run the scheduler, a worker and the web console until Ctrl-C."
        ),
    )
    parser.add_argument("--no-web", action="store_true", help="do not start the web console")
    parser.set_defaults(func=run_dev)


def registered_commands() -> dict[str, argparse.ArgumentParser]:
    """The top-level commands of this CLI and their parsers."""
    parser = cli.build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


@contextmanager
def _single_dev(data_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the data folder so two `dev` runs cannot share it."""
    with (data_dir / LOCK_NAME).open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise cli.CommandError(
                f"another `etl-orchestrator dev` is already running with DATA_DIR={data_dir}: "
                "stop it first (Ctrl-C in its terminal), or set DATA_DIR to another folder"
            ) from None
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


def _cli_argv(args: argparse.Namespace, *command: str) -> list[str]:
    verbose = ["-v"] if args.verbose else []
    return [sys.executable, "-m", "etl_orchestrator", *verbose, *command]


def _child_specs(
    args: argparse.Namespace, commands: dict[str, argparse.ArgumentParser], env: dict[str, str]
) -> tuple[list[ChildSpec], list[str]]:
    wanted: Sequence[str] = SERVICE_COMMANDS if args.no_web else (*SERVICE_COMMANDS, WEB_COMMAND)
    # The console listens where BASE_URL (printed below) says it is.
    extra = {WEB_COMMAND: ["--port", str(port_of(get_settings().base_url))]}
    specs = [
        ChildSpec(name, _cli_argv(args, name, *extra.get(name, [])), env)
        for name in wanted
        if name in commands
    ]
    missing = [name for name in wanted if name not in commands]
    return specs, missing


def _summary(settings: Settings, env: dict[str, str], web: bool) -> str:
    lines = [
        f"data folder: {env['DATA_DIR']}",
        f"database:    {database_label()}",
        f"redis:       {env['REDIS_URL']}",
    ]
    if web:
        lines.append(f"console:     {settings.base_url}")
    lines.append("press Ctrl-C to stop")
    return "\n".join(lines)


def _prepare_database(
    args: argparse.Namespace, settings: Settings, env: dict[str, str], supervisor: Supervisor
) -> None:
    """Bring the schema up to date, then upsert the declared jobs with `jobs sync`."""
    supervisor.say("migrating the database")
    if not args.verbose:
        # Alembic narrates each step at INFO; one line of ours is enough here.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    with database_errors():
        upgrade(env["DATABASE_URL"])
    code = supervisor.run_step(ChildSpec("sync", _cli_argv(args, "jobs", "sync"), env))
    if code != 0:
        modules = ", ".join(settings.etl_jobs_modules)
        raise cli.CommandError(
            f"`etl-orchestrator jobs sync` failed with exit code {code}: the lines above say "
            f"why. Fix the jobs modules ({modules}) or set ETL_JOBS_MODULES"
        )


def _ensure_demo_users(settings: Settings, supervisor: Supervisor) -> None:
    """Create the demo users that do not exist yet, and say how to sign in (never in Prod)."""
    if settings.etl_env == "Prod":
        supervisor.say("ETL_ENV=Prod: no demo users; add users with `etl-orchestrator users add`")
        return
    with database_errors(), session_scope() as session:
        for username, password in DEMO_USERS:
            if session.get(User, username) is None:
                add_user(session, username=username, password=password, role=username)
    listed = ", ".join(f"{name} / {password}" for name, password in DEMO_USERS)
    supervisor.say(f"demo users (user / password, unless changed since): {listed}")


def run_dev(args: argparse.Namespace) -> int:
    settings = get_settings()
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    commands = registered_commands()
    with ExitStack() as stack:
        stack.enter_context(_single_dev(data_dir))
        env = dict(os.environ)
        env.update(
            DATA_DIR=str(data_dir),
            DATABASE_URL=settings.effective_database_url,
            WAREHOUSE_URL=settings.effective_warehouse_url,
            PYTHONUNBUFFERED="1",
        )
        redis = None
        if settings.redis_url:
            env["REDIS_URL"] = settings.redis_url
        else:
            try:
                redis = start_embedded_redis(data_dir)
            except EmbeddedRedisError as error:
                raise cli.CommandError(str(error)) from None
            stack.callback(redis.stop)
            env["REDIS_URL"] = redis.url

        specs, missing = _child_specs(args, commands, env)
        supervisor = Supervisor(specs, abort_if=redis.failure if redis else None)
        _prepare_database(args, settings, env, supervisor)
        if not args.no_web:
            _ensure_demo_users(settings, supervisor)
        for name in missing:
            supervisor.say(f"this version has no `{name}` command yet: not started")

        with stop_on_signals(supervisor):
            supervisor.say(_summary(settings, env, web=WEB_COMMAND in [s.name for s in specs]))
            code = supervisor.run()
    return code
