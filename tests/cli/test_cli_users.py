"""`etl-orchestrator users add`: password from stdin or a double prompt, clear refusals."""

from __future__ import annotations

import getpass
import io
import sys

import pytest
from sqlmodel import select

from etl_orchestrator.auth import verify_password
from etl_orchestrator.cli import main
from etl_orchestrator.db import session_scope
from etl_orchestrator.models import AuditEntry, User


def stored(username: str) -> User | None:
    with session_scope() as session:
        return session.get(User, username)


def stored_user(username: str) -> User:
    user = stored(username)
    assert user is not None, f"user {username!r} was not stored"
    return user


def test_add_with_password_from_stdin(any_db, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long password\n"))
    assert main(["users", "add", "Alice", "--role", "admin", "--password-stdin"]) == 0
    assert capsys.readouterr().out.strip() == "user 'alice' added with role admin"
    user = stored_user("alice")
    assert user.role == "admin"
    assert verify_password(user.password_hash, "a long password")
    with session_scope() as session:
        [entry] = session.exec(select(AuditEntry)).all()
    assert entry.action == "users.add"
    assert entry.actor.startswith("cli")


def test_add_prompts_twice_for_the_password(any_db, capsys, monkeypatch):
    answers = iter(["typed twice ok", "typed twice ok"])
    prompts = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    assert main(["users", "add", "bob", "--role", "viewer"]) == 0
    assert prompts == ["Password for bob: ", "Repeat the password: "]
    assert verify_password(stored_user("bob").password_hash, "typed twice ok")


def test_different_passwords_at_the_prompts_add_nobody(any_db, capsys, monkeypatch):
    answers = iter(["first password", "second password"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    assert main(["users", "add", "bob", "--role", "viewer"]) == 2
    assert "the two passwords differ" in capsys.readouterr().err
    assert stored("bob") is None


def test_a_duplicate_user_is_refused(any_db, capsys, monkeypatch):
    for _ in range(2):
        monkeypatch.setattr(sys, "stdin", io.StringIO("a long password\n"))
        code = main(["users", "add", "carol", "--role", "operator", "--password-stdin"])
    assert code == 2
    assert "error: user 'carol' already exists" in capsys.readouterr().err


def test_a_short_password_is_refused_with_the_rule(any_db, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["users", "add", "dan", "--role", "viewer", "--password-stdin"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert stored("dan") is None


def test_empty_stdin_is_refused(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["users", "add", "erin", "--role", "viewer", "--password-stdin"]) == 2
    assert "no password on standard input" in capsys.readouterr().err


def test_an_unknown_role_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        main(["users", "add", "frank", "--role", "root"])
    assert info.value.code == 2
    assert "invalid choice: 'root'" in capsys.readouterr().err


def test_token_prints_the_secret_once_and_stores_only_its_hash(any_db, capsys):
    import hashlib

    from etl_orchestrator.models import ApiToken
    from etl_orchestrator.services.users import add_user

    with session_scope() as session:
        add_user(session, username="grafana", password="a long password", role="viewer")
    assert main(["users", "token", "Grafana", "--label", "dashboards", "--days", "90"]) == 0
    out = capsys.readouterr()
    secret = out.out.strip()
    assert secret.startswith("etl_")
    assert "shown only now" in out.err
    assert "dashboards" in out.err
    with session_scope() as session:
        [row] = session.exec(select(ApiToken)).all()
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (row.username, row.label) == ("grafana", "dashboards")


def test_token_for_an_unknown_user_is_refused_clearly(any_db, capsys):
    assert main(["users", "token", "ghost", "--label", "x"]) == 2
    assert "no active user 'ghost'" in capsys.readouterr().err
