"""`etl-orchestrator users ...`: add the people who sign in to the console."""

from __future__ import annotations

import argparse
import getpass
import sys

from etl_orchestrator.cli import CommandError
from etl_orchestrator.cli.db import database_errors
from etl_orchestrator.db import session_scope
from etl_orchestrator.services.audit import shell_actor
from etl_orchestrator.services.users import ROLES, UserError, add_user


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
