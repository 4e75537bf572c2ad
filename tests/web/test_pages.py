"""Every page builds into components (a broken page fails here in milliseconds, not in a build)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import reflex as rx

from etl_orchestrator.ui.pages import home, job, run, signin


@pytest.mark.parametrize(
    "page", [signin.page, home.page, run.page, job.page], ids=["signin", "home", "run", "job"]
)
def test_the_page_builds(page: Callable[[], rx.Component]):
    assert isinstance(page(), rx.Component)
