"""The admin pages and the run audit component build into components (fails in milliseconds)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import reflex as rx

from etl_orchestrator.ui.components.run_audit import run_audit
from etl_orchestrator.ui.pages import audit, freshness, run, settings, status
from etl_orchestrator.ui.pages.job_state import JobPageState


@pytest.mark.parametrize(
    "page",
    [freshness.page, settings.page, audit.page, status.page, run.page],
    ids=["freshness", "settings", "audit", "status", "run"],
)
def test_the_page_builds(page: Callable[[], rx.Component]) -> None:
    assert isinstance(page(), rx.Component)


def test_the_run_audit_component_builds_for_any_list_var() -> None:
    assert isinstance(run_audit(JobPageState.run_audit), rx.Component)
