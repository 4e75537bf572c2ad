"""`etl-orchestrator web`: port and host from BASE_URL, the Reflex command, clear refusals."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from etl_orchestrator import config
from etl_orchestrator.auth import verify_password
from etl_orchestrator.cli import CommandError, build_parser, web
from etl_orchestrator.cli import dev as dev_cli
from etl_orchestrator.db import session_scope
from etl_orchestrator.models import User

DEMO = dev_cli.DEMO_USERS


@pytest.mark.parametrize(
    ("base_url", "port"),
    [
        ("http://localhost:3000", 3000),
        ("https://etl.example.com", 443),
        ("http://etl.example.com/", 80),
        ("https://etl.example.com:8443/console", 8443),
    ],
)
def test_the_default_port_is_the_one_in_base_url(base_url: str, port: int):
    assert web.port_of(base_url) == port


@pytest.mark.parametrize(
    ("base_url", "host"),
    [
        ("http://localhost:3000", "127.0.0.1"),
        ("http://127.0.0.1:3000", "127.0.0.1"),
        ("https://etl.example.com", "0.0.0.0"),
    ],
)
def test_a_local_base_url_listens_on_loopback_only(base_url: str, host: str):
    assert web.default_host(base_url) == host


def test_reflex_serves_the_production_build_on_one_port():
    argv = web.reflex_argv(3111, "127.0.0.1")
    assert argv[:4] == [sys.executable, "-m", "reflex", "run"]
    assert argv[argv.index("--env") + 1] == "prod"
    assert (
        argv[argv.index("--frontend-port") + 1] == argv[argv.index("--backend-port") + 1] == "3111"
    )


def test_without_base_url_the_console_is_reached_on_its_own_port(
    monkeypatch: pytest.MonkeyPatch,
):
    env = web.web_environment(3111)
    assert env["BASE_URL"] == "http://localhost:3111"
    assert Path(env["DATA_DIR"]).is_absolute()
    assert env["REFLEX_USE_SYSTEM_BUN"] == "1"


def test_a_configured_base_url_is_kept(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BASE_URL", "https://etl.example.com")
    assert web.web_environment(3111)["BASE_URL"] == "https://etl.example.com"


def test_without_any_redis_the_command_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("REDIS_URL", "")
    config.get_settings.cache_clear()
    args = build_parser().parse_args(["web", "--port", "3111"])
    with pytest.raises(CommandError, match="needs Redis"):
        args.func(args)


def test_several_workers_without_redis_url_are_refused(
    monkeypatch: pytest.MonkeyPatch, etl_env: Path
):
    (etl_env / "redis.sock").touch()  # an embedded Redis is there, but REDIS_URL is not set
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("GRANIAN_WORKERS", "3")
    config.get_settings.cache_clear()
    args = build_parser().parse_args(["web"])
    with pytest.raises(CommandError, match="GRANIAN_WORKERS=3 needs REDIS_URL"):
        args.func(args)


def test_dev_starts_web_on_the_port_of_base_url(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BASE_URL", "http://localhost:3999")
    config.get_settings.cache_clear()
    args = argparse.Namespace(no_web=False, verbose=False)
    specs, missing = dev_cli._child_specs(args, dev_cli.registered_commands(), {})
    [web_spec] = [spec for spec in specs if spec.name == "web"]
    assert web_spec.argv[-3:] == ["web", "--port", "3999"]
    assert "web" not in missing


class Said:
    """Stands in for the dev supervisor's narrator."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def say(self, message: str) -> None:
        self.lines.append(message)


def test_dev_creates_the_demo_users_once_and_says_how_to_sign_in():
    said = Said()
    for _ in range(2):
        dev_cli._ensure_demo_users(config.get_settings(), said)  # type: ignore[arg-type]
    with session_scope() as session:
        roles = {user.username: user.role for user in session.exec(select(User))}
        assert all(verify_password(session.get(User, n).password_hash, p) for n, p in DEMO)  # type: ignore[union-attr]
    assert roles == {"admin": "admin", "operator": "operator", "viewer": "viewer"}
    assert "viewer / demo-viewer" in said.lines[-1]


def test_dev_creates_no_demo_users_in_prod(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ETL_ENV", "Prod")
    config.get_settings.cache_clear()
    said = Said()
    dev_cli._ensure_demo_users(config.get_settings(), said)  # type: ignore[arg-type]
    with session_scope() as session:
        assert session.exec(select(User)).all() == []
    assert "no demo users" in said.lines[-1]
