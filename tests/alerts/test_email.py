"""Alert e-mail: plain text and HTML alternative, both with the link; HTML escapes user text."""

from __future__ import annotations

from datetime import UTC, datetime

from etl_orchestrator.alerts.email import build_email, recipients_of
from etl_orchestrator.alerts.message import AlertMessage

AT = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
LINK = "https://etl.example.com/runs/7"


def message() -> AlertMessage:
    return AlertMessage(
        kind="run_failed",
        severity="error",
        title="Run 7 of <script>alert(1)</script> failed",
        summary="failed for good",
        created_at=AT,
        link=LINK,
        lines=[("Job", "<script>alert(1)</script>")],
        env="Stage",
    )


def test_recipients_are_split_on_commas_and_trimmed() -> None:
    assert recipients_of(" a@x.test, ,b@x.test ") == ("a@x.test", "b@x.test")


def test_the_mail_has_a_plain_text_and_an_html_part_each_with_the_link() -> None:
    mail = build_email(message(), "etl@x.test", ("a@x.test", "b@x.test"))
    assert mail["To"] == "a@x.test, b@x.test"
    assert mail["Subject"] == "[Stage] Run 7 of <script>alert(1)</script> failed"
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert LINK in plain.get_content()
    assert f"href='{LINK}'" in html.get_content()


def test_the_html_part_escapes_user_text() -> None:
    html = build_email(message(), "etl@x.test", ("a@x.test",)).get_body(preferencelist=("html",))
    assert html is not None
    content = html.get_content()
    assert "<script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
