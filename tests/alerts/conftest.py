"""Alert fixtures: a local HTTP server for the Slack webhook and a local aiosmtpd for e-mail,
both on 127.0.0.1 and free ports, and the alert destinations pointed at them."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from etl_orchestrator import config
from tests.engine.conftest import engine, probe  # noqa: F401  (fixtures used here)

BASE_URL = "http://console.test:3000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SlackWebhook:
    """Records every POST; answers `fail_with` (e.g. 500) while it is set, else 200 "ok"."""

    url: str = ""
    fail_with: int | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def slack() -> Iterator[SlackWebhook]:
    hook = SlackWebhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with hook.lock:
                status = hook.fail_with
                if status is None:
                    hook.received.append(json.loads(body))
                else:
                    hook.refused += 1
            self.send_response(status or 200)
            self.end_headers()
            self.wfile.write(b"ok" if status is None else b"server_error")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/XXXX"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append(message_from_bytes(content))
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def destinations(
    monkeypatch: pytest.MonkeyPatch, slack: SlackWebhook, mailbox: tuple[Mailbox, int]
) -> tuple[SlackWebhook, Mailbox]:
    """Alerts go to the local Slack stand-in and the local SMTP server; quick passes."""
    box, port = mailbox
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.url)
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("ALERT_EMAIL_FROM", "etl@example.test")
    monkeypatch.setenv("ALERT_EMAIL_TO", "oncall@example.test, lead@example.test")
    monkeypatch.setenv("BASE_URL", BASE_URL)
    monkeypatch.setenv("ETL_ALERT_EVERY_S", "0.1")
    monkeypatch.setenv("ETL_ALERT_RETRY_BASE_S", "0.3")
    monkeypatch.setenv("ETL_ALERT_SEND_TIMEOUT_S", "3")
    config.get_settings.cache_clear()
    return slack, box
