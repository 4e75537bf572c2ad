"""The settings page's read model: values, apply state, history and masked destinations."""

from __future__ import annotations

import pytest

from etl_orchestrator import config
from etl_orchestrator.db import session_scope
from etl_orchestrator.services import settings, settings_view


def test_a_change_shows_until_the_dispatcher_applies_it_then_its_time(any_db: str) -> None:
    with session_scope() as session:
        settings.set_parallel_jobs(session, 2, actor="ann", reason="quiet night", role="admin")
    with session_scope() as session:
        view = settings_view.settings_view(session)
        assert (view.parallel_jobs, view.parallel_updated_by, view.parallel_applied_at) == (
            2,
            "ann",
            "",
        )
        settings.mark_applied(session, settings.PARALLEL_JOBS)
    with session_scope() as session:
        assert settings_view.settings_view(session).parallel_applied_at.endswith("Z")


def test_history_lists_both_settings_newest_first_and_pages_by_id(any_db: str) -> None:
    with session_scope() as session:
        settings.set_parallel_jobs(session, 2, actor="ann", reason="one", role="admin")
        settings.set_alerts_visible(session, False, actor="bob", reason="two", role="admin")
        settings.set_parallel_jobs(session, 3, actor="ann", reason="three", role="admin")
    with session_scope() as session:
        rows = settings_view.history(session)
        assert [(r.key, r.old_value, r.new_value, r.reason) for r in rows] == [
            ("parallel_jobs", "2", "3", "three"),
            ("alerts_visible", "on", "off", "two"),
            ("parallel_jobs", "4", "2", "one"),
        ]
        older = settings_view.history(session, before_id=rows[0].id, limit=1)
        assert [r.reason for r in older] == ["two"]


def test_alert_visibility_needs_a_reason_and_a_boolean(any_db: str) -> None:
    with session_scope() as session:
        with pytest.raises(settings.SettingError, match="reason"):
            settings.set_alerts_visible(session, False, actor="ann", reason=" ")
        with pytest.raises(settings.SettingError, match="on or off"):
            settings.set_alerts_visible(session, "no", actor="ann", reason="x")  # type: ignore[arg-type]


def test_destinations_are_read_only_from_config_with_the_webhook_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T00/B00/SECRETXYZ1234"
    )
    monkeypatch.setenv("SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.setenv("ALERT_EMAIL_TO", "")
    config.get_settings.cache_clear()
    found = {d.name: d for d in settings_view.destinations()}
    assert found["Slack webhook"].value == "https://hooks.slack.com/…1234"
    assert "SECRET" not in found["Slack webhook"].value
    assert found["SMTP server"].value == "mail.example.org:2525"
    assert (found["Email to"].value, found["Email to"].configured) == ("not configured", False)
