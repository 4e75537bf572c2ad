"""Slack Block Kit messages: header, fields, link button, escaped user text."""

from __future__ import annotations

from datetime import UTC, datetime

from etl_orchestrator.alerts.message import AlertMessage, run_link
from etl_orchestrator.alerts.slack import build_payload

AT = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


def failed_run(**overrides: object) -> AlertMessage:
    fields: dict[str, object] = {
        "kind": "run_failed",
        "severity": "error",
        "title": "Run 42 of load_orders failed",
        "summary": "Run 42 of job load_orders failed for good after 3 of 3 attempt(s): boom",
        "created_at": AT,
        "link": run_link("https://etl.example.com/", 42),
        "lines": [("Job", "load_orders"), ("Error", "x < 1 & y > 2")],
        "env": "Prod",
    }
    fields.update(overrides)
    return AlertMessage(**fields)  # type: ignore[arg-type]


def test_the_run_link_is_base_url_runs_id_without_a_double_slash() -> None:
    assert run_link("https://etl.example.com/", 42) == "https://etl.example.com/runs/42"


def test_the_payload_has_a_header_fields_a_link_button_and_a_fallback_text() -> None:
    payload = build_payload(failed_run())
    types = [block["type"] for block in payload["blocks"]]
    assert types == ["header", "section", "section", "actions", "context"]
    assert payload["blocks"][0]["text"]["text"] == "[Prod] Run 42 of load_orders failed"
    button = payload["blocks"][3]["elements"][0]
    assert button["url"] == "https://etl.example.com/runs/42"
    assert button["style"] == "danger"
    assert "<https://etl.example.com/runs/42>" in payload["text"]


def test_user_text_is_escaped_so_it_cannot_become_a_slack_link_or_mention() -> None:
    payload = build_payload(failed_run(summary="<!channel> see <http://evil|here>"))
    text = payload["blocks"][1]["text"]["text"]
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text
    fields = payload["blocks"][2]["fields"]
    assert fields[1]["text"] == "*Error*\nx &lt; 1 &amp; y &gt; 2"


def test_a_systemic_alert_without_lines_has_no_fields_section() -> None:
    payload = build_payload(
        failed_run(kind="no_workers", severity="warning", lines=[], link=None, title="No workers")
    )
    assert [block["type"] for block in payload["blocks"]] == ["header", "section", "context"]
