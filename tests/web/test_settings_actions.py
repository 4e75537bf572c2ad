"""Settings changes from the console: admins only (role re-read), audited with the change."""

from __future__ import annotations

import pytest
from sqlmodel import select

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import AuditEntry, SettingHistory
from etl_orchestrator.services import settings
from etl_orchestrator.web.actions import RefusedError
from etl_orchestrator.web.settings_actions import change_alerts_visible, change_parallel_jobs
from tests.web.conftest import MakeUser


def test_an_admin_change_writes_setting_history_and_audit_together(make_user: MakeUser) -> None:
    make_user("admin", "ann")
    with session_scope() as session:
        change_parallel_jobs(session, username="ann", value="2", reason=" night ")
    with session_scope() as session:
        assert settings.parallel_jobs(session) == 2
        [history] = session.exec(select(SettingHistory)).all()
        assert (history.old_value, history.new_value, history.changed_by) == (4, 2, "ann")
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "settings.update"))
        assert (entry.actor, entry.role, entry.outcome, entry.reason) == (
            "ann",
            "admin",
            "ok",
            "night",
        )


def test_an_operator_is_refused_and_the_refusal_audited(make_user: MakeUser) -> None:
    make_user("operator", "olly")
    with session_scope() as session, pytest.raises(RefusedError, match="admin role"):
        change_parallel_jobs(session, username="olly", value="1", reason="forged")
    with session_scope() as session, pytest.raises(RefusedError):
        change_alerts_visible(session, username="olly", value=False, reason="forged")
    with session_scope() as session:
        assert settings.parallel_jobs(session) == 4
        assert session.exec(select(SettingHistory)).all() == []
        refusals = session.exec(select(AuditEntry).where(AuditEntry.outcome == "refused")).all()
        assert [(r.actor, r.target) for r in refusals] == [
            ("olly", "parallel_jobs"),
            ("olly", "alerts_visible"),
        ]


@pytest.mark.parametrize("value", ["0", "257", "two", "", "1.5"])
def test_bad_values_and_missing_reasons_change_nothing(make_user: MakeUser, value: str) -> None:
    make_user("admin", "ann")
    with session_scope() as session, pytest.raises(settings.SettingError, match="1 to 256"):
        change_parallel_jobs(session, username="ann", value=value, reason="r")
    with session_scope() as session, pytest.raises(settings.SettingError, match="reason"):
        change_parallel_jobs(session, username="ann", value="3", reason="  ")
    with session_scope() as session:
        assert settings.parallel_jobs(session) == 4
        assert session.exec(select(SettingHistory)).all() == []
