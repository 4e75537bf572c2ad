"""`etl-orchestrator web`: build the console and serve it (pages, API, websocket) on one port."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from etl_orchestrator.cli import CommandError
from etl_orchestrator.config import get_settings
from etl_orchestrator.redis_conn import redis_url

#: Where rxconfig.py and assets/ live: the console is built from the source checkout.
APP_ROOT = Path(__file__).resolve().parents[2]
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def port_of(base_url: str) -> int:
    """The port a browser uses for BASE_URL (80/443 when it names none)."""
    parts = urlsplit(base_url)
    if parts.port:
        return parts.port
    return 443 if parts.scheme == "https" else 80


def default_host(base_url: str) -> str:
    """Listen on loopback only when the console is meant to be reached on this machine."""
    return "127.0.0.1" if (urlsplit(base_url).hostname or "") in LOCAL_HOSTS else "0.0.0.0"  # noqa: S104


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "web",
        help="serve the web console (production build) on one port",
        description=(
            "Build the console's frontend, then serve pages, the API and the websocket on one "
            "port. Uses Reflex's Redis state manager (several workers) when REDIS_URL is set."
        ),
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port to listen on (default: the port of BASE_URL)"
    )
    parser.add_argument(
        "--host", default=None, help="address to listen on (default: loopback for a local BASE_URL)"
    )
    parser.set_defaults(func=run_web)


def web_environment(port: int) -> dict[str, str]:
    """The environment of the Reflex process: absolute paths (it runs from APP_ROOT)."""
    settings = get_settings()
    env = dict(os.environ)
    if "BASE_URL" not in env:
        # Nobody said where the console is reached: then it is here, on this port.
        env["BASE_URL"] = f"http://localhost:{port}"
    env.update(
        DATA_DIR=str(settings.data_dir.resolve()),
        DATABASE_URL=settings.effective_database_url,
        WAREHOUSE_URL=settings.effective_warehouse_url,
        REFLEX_USE_SYSTEM_BUN="1",
        REFLEX_TELEMETRY_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    return env


def reflex_argv(port: int, host: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "reflex",
        "run",
        "--env",
        "prod",
        "--frontend-port",
        str(port),
        "--backend-port",
        str(port),
        "--backend-host",
        host,
    ]


def _check_prerequisites() -> None:
    if not (APP_ROOT / "rxconfig.py").is_file():
        raise CommandError(
            f"the console is built from the source checkout, and {APP_ROOT} has no rxconfig.py: "
            "install the package in editable mode (pip install -e .) from a checkout"
        )
    if shutil.which("bun") is None:
        raise CommandError(
            "the console's build needs bun, which is not on PATH: npm install -g bun@1 "
            "(`make run` does this)"
        )
    settings = get_settings()
    socket_path = redis_url().removeprefix("unix://")
    if not settings.redis_url and not Path(socket_path).exists():
        raise CommandError(
            "the console needs Redis (sign-in limits and live updates): set REDIS_URL, or run "
            "`etl-orchestrator dev`, which starts a private one"
        )
    workers = os.environ.get("GRANIAN_WORKERS", "1")
    if not settings.redis_url and workers != "1":
        raise CommandError(
            f"GRANIAN_WORKERS={workers} needs REDIS_URL: without it each worker would keep its "
            "own copy of the console's state and live updates would reach only some browsers; "
            "set REDIS_URL or leave GRANIAN_WORKERS unset"
        )


def run_web(args: argparse.Namespace) -> int:
    settings = get_settings()
    _check_prerequisites()
    port = args.port or port_of(settings.base_url)
    if not 1 <= port <= 65535:
        raise CommandError(f"--port {port} is not a TCP port: use 1 to 65535")
    env = web_environment(port)
    host = args.host or default_host(env["BASE_URL"])
    print(f"console: building, then serving on {host}:{port}; open {env['BASE_URL']}", flush=True)
    os.chdir(APP_ROOT)
    os.execve(sys.executable, reflex_argv(port, host), env)  # noqa: S606 - argv, no shell
