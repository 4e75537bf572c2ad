"""Drill: the Slack webhook answers 500, then is down, then recovers; the alert still arrives once.

Real scheduler and worker processes on this drill's private PostgreSQL and Redis; a local HTTP
server stands in for Slack, a local aiosmtpd for e-mail.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import select

from etl_orchestrator import config
from etl_orchestrator.alerts import queries
from etl_orchestrator.alerts.message import RUN_FAILED
from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.registry import load_jobs
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import Alert
from etl_orchestrator.services import runs as run_service
from etl_orchestrator.timeutil import utcnow
from tests.alerts.conftest import Mailbox, SlackWebhook, mailbox, slack  # noqa: F401  (fixtures)
from tests.drills.conftest import JOBS_MODULE, EngineProcess, statuses, wait_for

pytestmark = pytest.mark.slow
ALERT_JOBS = "tests.alerts.alert_jobs"
BASE_URL = "http://console.drill:3000"


def run_alert(run_id: int) -> Alert | None:
    with session_scope() as session:
        return session.exec(
            select(Alert).where(Alert.run_id == run_id, Alert.kind == RUN_FAILED)
        ).first()


def test_a_slack_webhook_that_answers_500_then_recovers_gets_the_alert_once(
    spawn: Callable[[str], EngineProcess],
    slack: SlackWebhook,  # noqa: F811
    mailbox: tuple[Mailbox, int],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    box, smtp_port = mailbox
    for name, value in {
        "ETL_JOBS_MODULES": f"{JOBS_MODULE},{ALERT_JOBS}",
        "SLACK_WEBHOOK_URL": slack.url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "ALERT_EMAIL_TO": "oncall@example.test",
        "BASE_URL": BASE_URL,
        "ETL_ALERT_EVERY_S": "0.2",
        "ETL_ALERT_RETRY_BASE_S": "0.5",
        "ETL_ALERT_SEND_TIMEOUT_S": "3",
    }.items():
        monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()
    with session_scope() as session:
        sync_jobs(session, load_jobs((JOBS_MODULE, ALERT_JOBS)), now=utcnow())
    slack.fail_with = 500
    spawn("worker")
    spawn("scheduler")
    spawn("scheduler")  # a standby: it must not send too
    with session_scope() as session:
        [run_id] = run_service.trigger(
            session, job_id="always_fails", requested_by="drill", reason="slack drill"
        ).run_ids

    wait_for("the run to fail", lambda: statuses([run_id])[run_id] == "failed", 60)
    wait_for("three refused Slack attempts", lambda: slack.refused >= 3, 60)
    alert = run_alert(run_id)
    assert alert is not None
    assert alert.channels["slack"]["status"] == "pending"
    assert "HTTP 500" in alert.channels["slack"]["last_error"]
    # The console shows the trouble while it lasts: the alert's delivery line and the banner.
    with session_scope() as session:
        [row] = queries.alert_page(session).rows
        assert row.deliveries[1].startswith("Slack: pending, attempt ")
        assert "HTTP 500" in row.deliveries[1]
        assert any(
            "Alert delivery to Slack is failing" in p for p in queries.open_systemic(session)
        )

    slack.fail_with = None
    wait_for("the Slack delivery", lambda: len(slack.received) == 1, 60)
    wait_for(
        "the alert marked sent",
        lambda: (a := run_alert(run_id)) is not None and a.status == "sent",
        30,
    )
    assert f"{BASE_URL}/runs/{run_id}" in str(slack.received[0])
    assert len(box.messages) == 1
    with session_scope() as session:
        assert queries.alert_page(session).rows[0].deliveries == ["E-mail: sent", "Slack: sent"]
        assert queries.open_systemic(session) == []
    with session_scope() as session:
        assert len(session.exec(select(Alert).where(Alert.kind == RUN_FAILED)).all()) == 1
