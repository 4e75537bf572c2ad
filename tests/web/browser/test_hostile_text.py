"""Markup in job names, reasons and log lines is shown as text in the console, never run."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from etl_orchestrator.db import session_scope
from etl_orchestrator.models import Job, Run
from etl_orchestrator.services import runs
from etl_orchestrator.states import RunStatus, transition
from tests.web.browser.support import LIVE_TIMEOUT_MS, Console, sign_in, write_through_sink
from tests.web.conftest import MakeUser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Each would set window.__pwned if the page ever treated it as HTML.
NAME = "<img src=x onerror=\"window.__pwned='name'\">Nightly"
REASON = "<script>window.__pwned='reason'</script>late file"
LOG_LINE = "<img src=x onerror=\"window.__pwned='log'\"> loaded 5 rows"


def test_markup_in_names_reasons_and_log_lines_is_rendered_as_text(
    page: Page, console: Console, make_user: MakeUser
) -> None:
    with session_scope() as session:
        session.add(Job(job_id="hostile", name=NAME))
    with session_scope() as session:
        [run_id] = runs.trigger(
            session, job_id="hostile", requested_by="operator", reason=REASON
        ).run_ids
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        transition(session, run, RunStatus.DISPATCHED, detail="test")
        transition(session, run, RunStatus.RUNNING, detail="test")
    write_through_sink(run_id, [("INFO", LOG_LINE)])

    sign_in(page, console, make_user("operator"))
    page.goto(console.base + "/jobs?q=hostile")
    expect(page.get_by_text(NAME, exact=True).first).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    page.goto(f"{console.base}/runs/{run_id}")
    expect(page.get_by_text(REASON, exact=True).first).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    page.get_by_role("button", name="Logs", exact=True).first.click()
    expect(page.get_by_text(LOG_LINE).first).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("() => window.__pwned === undefined")
