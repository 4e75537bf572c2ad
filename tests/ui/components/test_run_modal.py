"""The run modal's handlers, called the way a (possibly forged) websocket event calls them."""

from __future__ import annotations

from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import col, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.registry import load_jobs
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import AuditEntry, Run, User
from etl_orchestrator.services import impact
from etl_orchestrator.services import runs as run_service
from etl_orchestrator.timeutil import utcnow
from etl_orchestrator.ui.components.run_modal import CONFIRM, DONE, FORM, RunModalState, impact_view
from etl_orchestrator.web import sessions
from tests.web import conftest as web_fixtures
from tests.web.conftest import MakeUser

make_user = web_fixtures.make_user
PIPELINE = "etl_orchestrator.examples.pipeline"
MARCH = {"param:start": "2024-03-01", "param:end": "2024-03-31"}


@pytest.fixture(autouse=True)
def demo() -> None:
    """The demo pipeline synced, as `jobs sync` does (the console's catalog declares it too)."""
    with session_scope() as session:
        sync_jobs(session, load_jobs([PIPELINE]), now=utcnow())


async def modal_as(username: str | None) -> RunModalState:
    """The modal's state in a fresh client whose websocket carried this user's session cookie."""
    cookie = ""
    if username is not None:
        with session_scope() as session:
            cookie = f"{sessions.COOKIE_NAME}={sessions.create_session(session, username=username)}"
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg] # what Reflex itself passes
    root.router = RouterData.from_router_data({"headers": {"cookie": cookie}, "pathname": "/"})
    state = await root.get_state(RunModalState)
    assert isinstance(state, RunModalState)
    return state


def all_runs() -> list[Run]:
    with session_scope() as session:
        return list(session.exec(select(Run).order_by(col(Run.run_id))))


def audit(action: str) -> list[AuditEntry]:
    with session_scope() as session:
        return list(session.exec(select(AuditEntry).where(col(AuditEntry.action) == action)))


def form(**extra: Any) -> dict[str, Any]:
    return {**MARCH, "reason": "reload March", "concurrency": "", **extra}


async def test_opening_on_a_parameterized_job_builds_its_form_with_defaults(make_user: MakeUser):
    make_user("operator")
    state = await modal_as("operator")
    state.show("backfill_sales", False, 0)
    assert state.is_open
    assert state.step == FORM
    assert state.problem == ""
    assert [(f.name, f.kind, f.required) for f in state.fields] == [
        ("start", "date", True),
        ("end", "date", True),
        ("full_refresh", "boolean", False),
    ]
    assert state.values == {"start": "", "end": "", "full_refresh": "false"}
    assert state.cap == 4


async def test_a_job_without_params_shows_only_the_options(make_user: MakeUser):
    make_user("operator")
    state = await modal_as("operator")
    state.show("fct_sales", True, 0)
    assert state.fields == []
    assert state.dry_run
    assert state.job_name


async def test_each_change_is_checked_at_once_and_a_fix_clears_the_error(make_user: MakeUser):
    make_user("operator")
    state = await modal_as("operator")
    state.show("backfill_sales", False, 0)
    state.set_value("start", "2024-02-30")
    assert "not a date" in state.errors["start"]
    assert state.has_errors
    state.set_value("start", "2024-02-29")
    assert state.errors["start"] == ""
    assert not state.has_errors
    state.set_value("not_a_field", "x")  # a forged name changes nothing
    assert "not_a_field" not in state.values


async def test_an_invalid_parameter_stays_on_the_form_with_its_error_and_queues_nothing(
    make_user: MakeUser,
):
    make_user("operator")
    state = await modal_as("operator")
    state.show("backfill_sales", False, 0)
    state.review(form(**{"param:end": ""}))
    assert state.step == FORM
    assert state.errors["end"] == "End is required"
    state.review(form(**{"param:end": "2024-02-01"}))  # the model's own rule: end >= start
    assert state.step == FORM
    assert "is before start" in state.errors["params"]
    state.confirm()  # forged straight to confirm with the same params
    assert state.step == FORM
    assert all_runs() == []
    assert audit("run.trigger") == []


async def test_the_reason_is_required_before_the_preview(make_user: MakeUser):
    make_user("operator")
    state = await modal_as("operator")
    state.show("fct_sales", False, 0)
    state.review({"reason": "  ", "concurrency": ""})
    assert state.step == FORM
    assert "reason is required" in state.errors["reason"]


async def test_a_concurrency_override_beyond_the_cap_is_refused(make_user: MakeUser):
    make_user("operator")
    state = await modal_as("operator")
    state.show("fct_sales", False, 0)
    state.set_concurrency("5")
    assert "1 to 4" in state.errors["concurrency"]
    state.review({"reason": "why", "concurrency": "5"})
    assert state.step == FORM
    state.confirm()
    assert all_runs() == []


async def test_review_then_confirm_queues_the_batch_with_params_and_reason_audited(
    make_user: MakeUser,
):
    make_user("operator")
    state = await modal_as("operator")
    state.show("backfill_sales", False, 0)
    state.review(form(**{"param:full_refresh": "on", "concurrency": "2"}))
    assert state.step == CONFIRM, state.problem
    assert [row.job_id for row in state.preview.runs] == ["backfill_sales"]
    assert state.preview.tables == ["fct_sales", "stg_orders"]
    assert state.preview.runs[0].expected == "no history"
    state.confirm()
    assert state.step == DONE, state.problem
    [run] = all_runs()
    assert state.run_ids == [run.run_id]
    assert run.params == {"start": "2024-03-01", "end": "2024-03-31", "full_refresh": True}
    assert (run.reason, run.requested_by, run.concurrency_override) == (
        "reload March",
        "operator",
        2,
    )
    [row] = audit("run.trigger")
    assert (row.actor, row.role, row.outcome, row.reason) == (
        "operator",
        "operator",
        "ok",
        "reload March",
    )
    assert row.params["params"] == run.params


async def test_with_downstream_confirm_creates_the_runs_the_preview_listed(make_user: MakeUser):
    make_user("admin")
    state = await modal_as("admin")
    state.show("fct_sales", True, 0)
    state.review({"dry_run": "on", "downstream": "on", "reason": "check", "concurrency": ""})
    assert state.step == CONFIRM, state.problem
    listed = sorted(row.job_id for row in state.preview.runs)
    state.confirm()
    created = all_runs()
    assert sorted(run.job_id for run in created) == listed
    assert sorted((q.run_id, q.job_id) for q in state.queued) == sorted(
        (run.run_id, run.job_id) for run in created
    )
    assert all(run.dry_run for run in created)
    assert len({run.batch_id for run in created}) == 1


async def test_a_viewers_forged_confirm_is_refused_audited_and_queues_nothing(
    make_user: MakeUser,
):
    make_user("viewer")
    state = await modal_as("viewer")
    state.show("backfill_sales", False, 0)
    assert "queueing needs the operator role" in state.problem  # said up front, checked later
    state.review(form())
    state.confirm()
    assert state.problem.startswith("Refused: run.trigger needs the operator role")
    assert state.step != DONE
    assert all_runs() == []
    [row] = audit("run.trigger")
    assert (row.actor, row.role, row.outcome, row.reason) == (
        "viewer",
        "viewer",
        "refused",
        "reload March",
    )


async def test_a_demotion_between_preview_and_confirm_takes_effect(make_user: MakeUser):
    make_user("operator", username="olga")
    state = await modal_as("olga")
    state.show("fct_sales", False, 0)
    state.review({"reason": "why", "concurrency": ""})
    assert state.step == CONFIRM
    with session_scope() as session:
        user = session.get(User, "olga")
        assert user is not None
        user.role = "viewer"
    state.confirm()
    assert state.problem.startswith("Refused")
    assert all_runs() == []


async def test_without_a_session_the_handlers_send_the_client_to_sign_in(make_user: MakeUser):
    state = await modal_as(None)
    assert state.show("fct_sales", False, 0) is not None
    assert not state.is_open
    state.job_id, state.reason = "fct_sales", "forged"
    assert state.confirm() is not None
    assert all_runs() == []


async def test_a_rerun_is_prefilled_from_its_run_and_queued_as_a_rerun(make_user: MakeUser):
    make_user("operator")
    with session_scope() as session:
        [old] = run_service.trigger(
            session,
            job_id="backfill_sales",
            params={"start": "2024-01-01", "end": "2024-01-31"},
            reason="first",
            audit_action=None,
        ).run_ids
    state = await modal_as("operator")
    state.show("ignored", False, old)
    assert state.job_id == "backfill_sales"
    assert state.is_rerun
    assert state.values["start"] == "2024-01-01"
    state.review({"param:start": "2024-01-01", "param:end": "2024-01-15", "reason": "again"})
    assert state.step == CONFIRM, state.problem
    state.confirm()
    assert state.step == DONE, state.problem
    new = all_runs()[-1]
    assert (new.trigger, new.params["end"], new.reason) == ("rerun", "2024-01-15", "again")
    [row] = audit("run.rerun")
    assert row.params["rerun_run_id"] == new.run_id
    assert row.params["params"]["end"] == "2024-01-15"


async def test_an_unknown_job_or_run_is_explained_in_the_modal(make_user: MakeUser):
    make_user("operator")
    state = await modal_as("operator")
    state.show("no_such_job", False, 0)
    assert "Unknown job 'no_such_job'" in state.problem
    state.show("fct_sales", False, 999_999)
    assert "unknown run 999999" in state.problem


def test_the_preview_says_durations_in_words_and_no_history_when_there_is_none():
    found = impact.Impact(
        job_id="a",
        runs=[
            impact.PlannedRunView(job_id="a", writes=["t"], expected_s=65.0, history=3),
            impact.PlannedRunView(job_id="b", held_by=["a"], expected_s=None),
        ],
        tables=["t"],
        cap=4,
        active=3,
        queued_ahead=2,
    )
    view = impact_view(found)
    assert [(row.starts, row.writes, row.expected) for row in view.runs] == [
        ("queued at once", "t", "about 1 min 05 s (median of 3)"),
        ("waits for a", "nothing declared", "no history"),
    ]
    assert view.expected_total.startswith("unknown")
    assert (view.free_slots, view.queued_ahead) == (1, 2)
    found.expected_total_s = 7200.0
    assert impact_view(found).expected_total == "about 2 h 00 min along its longest chain"
