"""Bulk actions on jobs: roles read from the database, a result and an audit row per job."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import AuditEntry, Job, Run, User
from etl_orchestrator.services import bulk_actions
from etl_orchestrator.services.bulk_actions import BulkError
from tests.web import conftest as web_fixtures
from tests.web.conftest import MakeUser

make_user = web_fixtures.make_user

pytestmark = pytest.mark.usefixtures("any_db")


@pytest.fixture
def jobs() -> list[str]:
    with session_scope() as session:
        session.add_all(
            [
                Job(job_id="load_a", name="Load A"),
                Job(job_id="load_b", name="Load B"),
                Job(job_id="load_c", name="Load C"),
                Job(job_id="off", name="Off", enabled=False),
            ]
        )
    return ["load_a", "load_b", "load_c"]


def all_runs() -> list[Run]:
    with session_scope() as session:
        return list(session.exec(select(Run).order_by(col(Run.run_id))))


def audit_rows() -> list[AuditEntry]:
    with session_scope() as session:
        return list(
            session.exec(
                select(AuditEntry)
                .where(col(AuditEntry.actor) != "test")
                .order_by(col(AuditEntry.audit_id))
            )
        )


def enabled_of(job_id: str) -> bool:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.enabled


def test_a_bulk_dry_run_creates_one_dry_run_per_job_each_audited(
    jobs: list[str], make_user: MakeUser
) -> None:
    make_user("operator")
    results = bulk_actions.apply(
        username="operator", action="dry_run", job_ids=jobs, reason=" check before the load "
    )
    made = all_runs()
    assert [r.job_id for r in made] == jobs
    assert all(r.dry_run and r.reason == "check before the load" for r in made)
    assert [(r.job_id, r.outcome) for r in results] == [(j, "ok") for j in jobs]
    assert [r.run_ids for r in results] == [[run.run_id] for run in made]
    assert all("dry run" in r.message for r in results)
    rows = [a for a in audit_rows() if a.action == "run.trigger"]
    assert [(a.target, a.outcome, a.actor, a.role) for a in rows] == [
        (j, "ok", "operator", "operator") for j in jobs
    ]


def test_a_failing_row_is_reported_and_does_not_undo_the_others(
    jobs: list[str], make_user: MakeUser
) -> None:
    make_user("operator")
    results = bulk_actions.apply(
        username="operator", action="run", job_ids=["load_a", "off", "nope", "load_b"], reason="r"
    )
    assert [(r.job_id, r.outcome) for r in results] == [
        ("load_a", "ok"),
        ("off", "error"),
        ("nope", "error"),
        ("load_b", "ok"),
    ]
    assert "disabled" in results[1].message
    assert "unknown job 'nope'" in results[2].message
    assert [r.job_id for r in all_runs()] == ["load_a", "load_b"]
    errors = [(a.target, a.outcome) for a in audit_rows() if a.outcome == "error"]
    assert errors == [("off", "error"), ("nope", "error")]


@pytest.mark.parametrize(("role", "action"), [("viewer", "run"), ("operator", "enable")])
def test_a_role_below_the_action_is_refused_for_every_row_and_audited(
    jobs: list[str], make_user: MakeUser, role: str, action: str
) -> None:
    make_user(role)
    results = bulk_actions.apply(username=role, action=action, job_ids=jobs, reason="forged")
    assert {r.outcome for r in results} == {"refused"}
    assert all(r.message.startswith("Refused:") for r in results)
    assert all_runs() == []
    assert all(enabled_of(j) for j in jobs)
    [row] = [a for a in audit_rows() if a.outcome == "refused"]
    assert (row.actor, row.role, row.reason) == (role, role, "forged")
    assert "load_a" in row.target


def test_an_admin_disables_and_enables_with_the_reason_audited(
    jobs: list[str], make_user: MakeUser
) -> None:
    make_user("admin")
    results = bulk_actions.apply(
        username="admin", action="disable", job_ids=["load_a", "off"], reason="maintenance"
    )
    assert [(r.outcome, r.message) for r in results] == [
        ("ok", "disabled"),
        ("ok", "already disabled"),
    ]
    assert not enabled_of("load_a")
    result = bulk_actions.set_enabled(username="admin", job_id="off", enabled=True, reason="back")
    assert (result.outcome, result.message) == ("ok", "enabled")
    assert enabled_of("off")
    rows = [(a.action, a.target, a.reason, a.outcome) for a in audit_rows()]
    assert rows[-3:] == [
        ("job.disable", "load_a", "maintenance", "ok"),
        ("job.disable", "off", "maintenance", "ok"),
        ("job.enable", "off", "back", "ok"),
    ]


def test_a_demotion_mid_batch_refuses_the_rest(jobs: list[str], make_user: MakeUser) -> None:
    make_user("admin", username="ada")
    with session_scope() as session:
        user = session.get(User, "ada")
        assert user is not None
        user.role = "operator"
    [result] = bulk_actions.apply(username="ada", action="disable", job_ids=["load_a"], reason="x")
    assert result.outcome == "refused"
    assert enabled_of("load_a")


def test_a_malformed_batch_changes_nothing(jobs: list[str], make_user: MakeUser) -> None:
    make_user("admin")
    with pytest.raises(BulkError, match="reason"):
        bulk_actions.apply(username="admin", action="disable", job_ids=jobs, reason="  ")
    with pytest.raises(BulkError, match="at least one job"):
        bulk_actions.apply(username="admin", action="run", job_ids=[" "], reason="r")
    with pytest.raises(BulkError, match="unknown bulk action"):
        bulk_actions.apply(username="admin", action="drop", job_ids=jobs, reason="r")
    with pytest.raises(BulkError, match="at most"):
        bulk_actions.apply(
            username="admin", action="run", job_ids=[f"j{i}" for i in range(201)], reason="r"
        )
    assert all_runs() == []
    assert all(enabled_of(j) for j in jobs)
    assert audit_rows() == []
