"""The run modal in Chromium on the demo pipeline: field errors before submit, queueing with the
reason audited, the impact preview against what a real engine then does, axe, keyboard only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import col, select

from etl_orchestrator.dag import topological_order, upstream_closure
from etl_orchestrator.db import make_engine, session_scope
from etl_orchestrator.examples.data import seed_sources
from etl_orchestrator.jobs.registry import load_jobs
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.models import AuditEntry, Run
from etl_orchestrator.states import FINAL
from etl_orchestrator.timeutil import utcnow
from tests.examples.conftest import SMALL_ORDERS, run_until_success
from tests.waiting import wait_until
from tests.web.browser.support import Console, Engine, serious_violations, sign_in
from tests.web.conftest import MakeUser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PIPELINE = "etl_orchestrator.examples.pipeline"
#: The demo's fact job: the root of its reporting graph, with the largest downstream batch
#: (the extract_* roots' dependents stop at fct_sales, which keeps its own schedule).
ROOT_JOB = "fct_sales"
PARAM_JOB = "backfill_sales"
DIALOG = "[role=dialog]"
#: A batch of five real runs on a loaded 2-core machine.
BATCH_TIMEOUT_S = 180.0


@pytest.fixture
def demo() -> dict[str, JobSpec]:
    """The demo pipeline in the console's database, as `jobs sync` puts it."""
    specs = load_jobs([PIPELINE])
    with session_scope() as session:
        sync_jobs(session, specs, now=utcnow())
    return specs


def open_modal(page: Page, job_id: str) -> None:
    page.select_option("#run-now-job", job_id)
    page.click("#run-with-options")
    expect(page.locator(DIALOG)).to_be_visible()
    expect(page.locator(DIALOG)).to_contain_text(f"Run {job_id}")


def all_runs() -> list[Run]:
    with session_scope() as session:
        return list(session.exec(select(Run).order_by(col(Run.run_id))))


def trigger_audit() -> list[AuditEntry]:
    with session_scope() as session:
        return list(session.exec(select(AuditEntry).where(col(AuditEntry.action) == "run.trigger")))


def test_an_invalid_parameter_shows_its_field_error_before_submit_and_nothing_is_queued(
    page: Page, console: Console, make_user: MakeUser, demo: dict[str, JobSpec]
):
    sign_in(page, console, make_user("operator"))
    open_modal(page, PARAM_JOB)
    end = page.locator("#param-end")
    expect(page.locator("label[for='param-end']")).to_contain_text("(required)")
    end.fill("2024-03-31")
    end.fill("")  # typed, then cleared: checked as the user goes, no submit
    expect(page.locator("#param-end-error")).to_have_text("End is required")
    expect(end).to_have_attribute("aria-invalid", "true")
    assert "param-end-error" in (end.get_attribute("aria-describedby") or "")
    page.fill("#run-modal-concurrency", "9")
    expect(page.locator("#run-modal-concurrency-error")).to_contain_text("1 to 4")
    review = page.locator("#run-modal-review")
    expect(review).to_be_disabled()
    page.fill("#run-modal-reason", "try it")
    page.locator("#run-modal-reason").press("Enter")  # a submit attempt by keyboard
    expect(page.locator(DIALOG)).not_to_contain_text("Expected impact")
    end.fill("2024-03-31")
    expect(page.locator("#param-end-error")).to_have_text("")
    page.fill("#run-modal-concurrency", "")
    expect(review).to_be_enabled()
    review.click()  # start is still empty: the whole form is checked again at submit
    expect(page.locator("#param-start-error")).to_have_text("Start is required")
    expect(page.locator("#run-modal-problem")).to_contain_text("Correct the fields")
    assert all_runs() == []
    assert trigger_audit() == []


def test_a_valid_submission_queues_the_run_with_the_reason_in_the_audit(
    page: Page, console: Console, make_user: MakeUser, demo: dict[str, JobSpec]
):
    sign_in(page, console, make_user("operator"))
    open_modal(page, PARAM_JOB)
    page.fill("#param-start", "2024-03-01")
    page.fill("#param-end", "2024-03-31")
    page.click("#param-full_refresh")
    page.fill("#run-modal-reason", "March was loaded twice")
    page.click("#run-modal-review")
    impact = page.locator("#run-modal-impact-runs")
    expect(impact.locator(f"tr[data-job-id='{PARAM_JOB}']")).to_contain_text("no history")
    expect(page.locator("#run-modal-tables li")).to_have_text(["fct_sales", "stg_orders"])
    expect(page.locator("#run-modal-slots")).to_contain_text("4 of 4")
    assert all_runs() == []  # the preview queues nothing
    page.click("#run-modal-confirm")
    expect(page.locator("#run-modal-result")).to_contain_text("Queued 1 run.")
    [run] = all_runs()
    link = page.locator("#run-modal-run-links a")
    expect(link).to_have_attribute("href", f"/runs/{run.run_id}")
    assert run.params == {"start": "2024-03-01", "end": "2024-03-31", "full_refresh": True}
    [row] = trigger_audit()
    assert (row.actor, row.outcome, row.reason) == ("operator", "ok", "March was loaded twice")
    assert row.params["params"] == run.params
    assert row.params["run_ids"] == [run.run_id]
    page.keyboard.press("Escape")
    expect(page.locator(DIALOG)).to_have_count(0)


def _build_upstreams(specs: dict[str, JobSpec], root: str, warehouse_url: str) -> None:
    """The tables `root` reads, built in-process as a day's run would (small data)."""
    deps = {job_id: [dep.job_id for dep in spec.depends_on] for job_id, spec in specs.items()}
    needed = upstream_closure(deps, [root])
    engine = make_engine(warehouse_url)
    try:
        seed_sources(engine, orders=SMALL_ORDERS, seed=7)
        for job_id in topological_order(deps):
            if job_id in needed:
                run_until_success(specs[job_id], engine)
    finally:
        engine.dispose()


def _previewed(page: Page) -> tuple[dict[str, list[str]], list[str]]:
    """(job -> tables it writes, every table) as the impact preview lists them."""
    rows = page.locator("#run-modal-impact-runs tbody tr")
    expect(rows.first).to_be_visible()
    runs = rows.evaluate_all(
        "rs => rs.map(r => [r.dataset.jobId, r.querySelectorAll('td')[1].innerText])"
    )
    tables = page.locator("#run-modal-tables li").all_inner_texts()
    return {job: sorted(writes.split(", ")) for job, writes in runs}, tables


@pytest.mark.parametrize("root", ["extract_orders", ROOT_JOB])
def test_a_root_jobs_impact_preview_lists_every_run_and_table_the_batch_then_writes(
    page: Page,
    console: Console,
    make_user: MakeUser,
    demo: dict[str, JobSpec],
    engine: Engine,
    root: str,
):
    _build_upstreams(demo, root, engine.env["WAREHOUSE_URL"])
    sign_in(page, console, make_user("operator"))
    open_modal(page, root)
    page.click("#run-modal-downstream")
    page.fill("#run-modal-reason", "rebuild downstream")
    page.click("#run-modal-review")
    writes, tables = _previewed(page)
    assert len(writes) > 1
    expect(page.locator("#run-modal-run-count")).to_have_text(str(len(writes)))
    page.click("#run-modal-confirm")
    expect(page.locator("#run-modal-result")).to_contain_text(f"Queued {len(writes)} runs")
    engine.start("worker")
    engine.start("scheduler")
    [batch] = {run.batch_id for run in all_runs()}

    def finished() -> list[Run] | None:
        batch_runs = [run for run in all_runs() if run.batch_id == batch]
        return batch_runs if all(run.status in FINAL for run in batch_runs) else None

    done = wait_until(finished, f"the {root} batch to finish", timeout_s=BATCH_TIMEOUT_S)
    outcome = {run.job_id: (run.status, run.error_excerpt) for run in done}
    assert all(run.status == "succeeded" for run in done), outcome
    assert {run.job_id: sorted(run.affected_tables) for run in done} == writes
    assert sorted({table for run in done for table in run.affected_tables}) == sorted(tables)
    # The batch is now history: the next preview expects durations from it.
    page.keyboard.press("Escape")
    expect(page.locator(DIALOG)).to_have_count(0)
    # The batch's run notices may now cover the button: open the modal from the keyboard.
    page.focus("#run-with-options")
    page.keyboard.press("Enter")
    expect(page.locator(DIALOG)).to_contain_text(f"Run {root}")
    page.fill("#run-modal-reason", "again")
    page.click("#run-modal-review")
    expect(page.locator(f"tr[data-job-id='{root}']")).to_contain_text("(median of 1)")


def _open_with_error(page: Page) -> None:
    open_modal(page, PARAM_JOB)
    page.fill("#param-start", "2024-03-01")
    page.fill("#param-end", "2024-03-31")
    page.fill("#param-end", "")
    expect(page.locator("#param-end-error")).to_have_text("End is required")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_open_modal_has_no_serious_accessibility_violations(
    browser: Browser,
    console: Console,
    make_user: MakeUser,
    axe_script: Path,
    demo: dict[str, JobSpec],
    scheme: str,
):
    ctx = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})  # type: ignore[arg-type]
    page = ctx.new_page()
    found: dict[str, Any] = {}
    sign_in(page, console, make_user("operator"))
    _open_with_error(page)
    found["form with an error"] = serious_violations(page, axe_script, DIALOG)
    page.fill("#param-end", "2024-03-31")
    page.fill("#run-modal-reason", "audit")
    page.click("#run-modal-review")
    expect(page.locator("#run-modal-confirm")).to_be_visible()
    found["impact"] = serious_violations(page, axe_script, DIALOG)
    ctx.close()
    assert found == {"form with an error": [], "impact": []}, json.dumps(found, indent=1)


def _tab_to(page: Page, element_id: str, limit: int = 25) -> None:
    """Press Tab until `element_id` has the focus (as a keyboard user would)."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} was not reached with {limit} Tab presses")


def test_the_keyboard_alone_opens_fills_and_submits_the_modal(
    page: Page, console: Console, make_user: MakeUser, demo: dict[str, JobSpec]
):
    sign_in(page, console, make_user("operator"))
    page.select_option("#run-now-job", ROOT_JOB)
    page.focus("#run-now-job")
    _tab_to(page, "run-with-options")
    page.keyboard.press("Enter")
    dialog = page.locator(DIALOG)
    expect(dialog).to_be_visible()
    _tab_to(page, "run-modal-dry_run")
    page.keyboard.press("Space")
    expect(page.locator("#run-modal-dry_run")).to_have_attribute("aria-checked", "true")
    _tab_to(page, "run-modal-reason")
    page.keyboard.type("keyboard only")
    page.keyboard.press("Enter")
    expect(page.locator("#run-modal-confirm")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#run-modal-result")).to_contain_text("Queued 1 run.")
    [run] = all_runs()
    assert (run.job_id, run.dry_run, run.reason) == (ROOT_JOB, True, "keyboard only")
    # Focus stays inside the dialog, and Escape closes it.
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate(
            "document.querySelector('[role=dialog]').contains(document.activeElement)"
        )
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)


def _fits(page: Page, width: int) -> None:
    box = page.locator(DIALOG).bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= width


def test_the_modal_fits_a_360_pixel_wide_screen(
    browser: Browser, console: Console, make_user: MakeUser, demo: dict[str, JobSpec]
):
    ctx = browser.new_context(viewport={"width": 360, "height": 740})
    page = ctx.new_page()
    sign_in(page, console, make_user("operator"))
    open_modal(page, ROOT_JOB)
    _fits(page, 360)
    page.click("#run-modal-downstream")
    page.fill("#run-modal-reason", "phone")
    page.click("#run-modal-review")
    expect(page.locator("#run-modal-confirm")).to_be_visible()
    _fits(page, 360)
    page.locator("#run-modal-confirm").scroll_into_view_if_needed()
    confirm = page.locator("#run-modal-confirm").bounding_box()
    assert confirm is not None
    assert confirm["x"] + confirm["width"] <= 360
    ctx.close()
