"""E-mail delivery over SMTP: plain text + HTML alternative (pure builder) and its sending."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape

from etl_orchestrator.alerts.message import AlertMessage
from etl_orchestrator.alerts.slack import DeliveryError
from etl_orchestrator.timeutil import iso

SEND_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str
    password: str
    starttls: bool
    sender: str
    recipients: tuple[str, ...]


def recipients_of(value: str) -> tuple[str, ...]:
    """ALERT_EMAIL_TO: comma-separated addresses."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def plain_text(message: AlertMessage) -> str:
    lines = [message.heading, "", message.summary, ""]
    lines += [f"{label}: {value}" for label, value in message.lines]
    if message.link:
        lines += ["", f"{message.link_text}: {message.link}"]
    lines += ["", f"{message.kind} · {iso(message.created_at)} UTC"]
    return "\n".join(lines) + "\n"


def html_text(message: AlertMessage) -> str:
    rows = "".join(
        f"<tr><th scope='row' style='text-align:left;padding-right:1em'>{escape(label)}</th>"
        f"<td>{escape(value)}</td></tr>"
        for label, value in message.lines
    )
    link = (
        f"<p><a href='{escape(message.link, quote=True)}'>{escape(message.link_text)}</a>"
        f" ({escape(message.link)})</p>"
        if message.link
        else ""
    )
    return (
        "<!doctype html><html lang='en'><body>"
        f"<h1 style='font-size:1.2em'>{escape(message.heading)}</h1>"
        f"<p>{escape(message.summary)}</p>"
        + (f"<table>{rows}</table>" if rows else "")
        + link
        + f"<p style='color:#555'>{escape(message.kind)} · {iso(message.created_at)} UTC</p>"
        "</body></html>"
    )


def build_email(message: AlertMessage, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = message.heading.replace("\n", " ")[:200]
    email["From"] = sender
    email["To"] = ", ".join(recipients)
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain="etl-orchestrator")
    email.set_content(plain_text(message))
    email.add_alternative(html_text(message), subtype="html")
    return email


def send(target: SmtpTarget, email: EmailMessage, *, timeout_s: float = SEND_TIMEOUT_S) -> None:
    """Blocking send (call it in a thread); DeliveryError on any SMTP or network failure."""
    try:
        with smtplib.SMTP(target.host, target.port, timeout=timeout_s) as smtp:
            if target.starttls:
                smtp.starttls()
            if target.username:
                smtp.login(target.username, target.password)
            refused = smtp.send_message(email, from_addr=target.sender, to_addrs=target.recipients)
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(f"{type(error).__name__}: {error}".strip()[:500]) from error
    if refused:
        raise DeliveryError(f"recipients refused: {', '.join(sorted(refused))}"[:500])
