"""`etl-orchestrator users ...`: add the people who sign in to the console, issue API tokens."""

from __future__ import annotations

import argparse
import getpass
import sys

from etl_orchestrator.cli import CommandError
from etl_orchestrator.cli.db import database_errors
from etl_orchestrator.db import session_scope
from etl_orchestrator.services.audit import shell_actor
from etl_orchestrator.services.users import ROLES, UserError, add_user
from etl_orchestrator.web.api_tokens import MAX_DAYS, TokenError, issue


def _read_password(username: str, from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input: pipe it in, one line")
        return password
    password = getpass.getpass(f"Password for {username}: ")
    if getpass.getpass("Repeat the password: ") != password:
        raise CommandError("the two passwords differ; nothing was changed, try again")
    return password


def _add(args: argparse.Namespace) -> int:
    password = _read_password(args.username, args.password_stdin)
    try:
        with database_errors(), session_scope() as session:
            user = add_user(
                session,
                username=args.username,
                password=password,
                role=args.role,
                actor=shell_actor(),
            )
    except UserError as error:
        raise CommandError(str(error)) from error
    print(f"user {user.username!r} added with role {user.role}")
    return 0


def _token(args: argparse.Namespace) -> int:
    try:
        with database_errors(), session_scope() as session:
            token = issue(
                session,
                username=args.username,
                label=args.label,
                days=args.days,
                actor=shell_actor(),
            )
    except TokenError as error:
        raise CommandError(str(error)) from error
    until = f"until {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "no expiry"
    print(
        f"API token {token.label!r} for {token.username} ({until}); it is shown only now, "
        "send it as `Authorization: Bearer <token>`:",
        file=sys.stderr,
    )
    print(token.secret)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("users", help="people who sign in to the console")
    actions = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a user with a role")
    add.add_argument("username", metavar="NAME", help="the user name (not case-sensitive)")
    add.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="viewer reads; operator also runs, retries and cancels; admin also changes settings",
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (for scripts) instead of prompting twice",
    )
    add.set_defaults(func=_add)
    token = actions.add_parser(
        "token",
        help="issue an API token for a user (printed once; only its hash is kept)",
        description="Issue a token that acts as the user on /api routes, with the user's role.",
    )
    token.add_argument("username", metavar="NAME", help="the user the token acts as")
    token.add_argument("--label", required=True, help="what uses the token, e.g. 'grafana'")
    token.add_argument(
        "--days",
        type=int,
        default=None,
        help=f"expire after this many days (1 to {MAX_DAYS}; default: never)",
    )
    token.set_defaults(func=_token)
