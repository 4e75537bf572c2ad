"""Slack incoming-webhook delivery: a Block Kit message (pure builder) and its POST."""

from __future__ import annotations

from typing import Any

from etl_orchestrator.alerts.message import AlertMessage
from etl_orchestrator.timeutil import iso

SEND_TIMEOUT_S = 10.0
_SEVERITY_ICON = {"error": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}


class DeliveryError(RuntimeError):
    """The destination did not accept the message; the text says why (kept as last_error)."""


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (job names and errors are user data)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_payload(message: AlertMessage) -> dict[str, Any]:
    """The webhook body: `text` (notifications, screen readers) plus Block Kit blocks."""
    icon = _SEVERITY_ICON.get(message.severity, "")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": message.heading[:150], "emoji": True},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{icon} {_escape(message.summary)}".strip()},
        },
    ]
    if message.lines:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{_escape(label)}*\n{_escape(value)[:1900]}"}
                    for label, value in message.lines[:10]
                ],
            }
        )
    if message.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": message.link_text},
                        "url": message.link,
                        "style": "danger" if message.severity == "error" else "primary",
                    }
                ],
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"{message.kind} · {iso(message.created_at)} UTC"}
            ],
        }
    )
    fallback = f"{message.heading}: {message.summary}"
    if message.link:
        fallback += f" <{message.link}>"
    return {"text": fallback, "blocks": blocks}


async def send(url: str, payload: dict[str, Any], *, timeout_s: float = SEND_TIMEOUT_S) -> None:
    """POST the payload; raise DeliveryError unless Slack answers 2xx within the timeout."""
    import httpx  # here: the scheduler starts faster without it, and needs it only to send

    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.post(url, json=payload)
    except httpx.HTTPError as error:
        raise DeliveryError(f"{type(error).__name__}: {error}".strip()[:500]) from error
    if response.status_code // 100 != 2:
        raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}")
