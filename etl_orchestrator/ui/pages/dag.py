"""Pipeline (/dag): the whole dependency graph; /dag/<job_id>: one job's upstream and downstream."""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import re
from urllib.parse import unquote

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.ui.components.dag_view import DagState, dag_view
from etl_orchestrator.ui.layout import frame
from etl_orchestrator.ui.state import AuthState, join_live, signin_redirect

_JOB_PATH = re.compile(r"^/dag/([^/]+)/?$")


def job_of_path(path: str) -> str | None:
    """The job of /dag/<job_id>, or None for the whole pipeline (/dag)."""
    match = _JOB_PATH.match(path)
    return unquote(match.group(1)) if match else None


class DagPageState(rx.State):
    async def load(self) -> EventSpec | None:
        auth = await self.get_state(AuthState)
        if auth._refresh() is None:
            return signin_redirect(self)
        await join_live(self)
        job_id = job_of_path(self.router.url.path)
        graph = await self.get_state(DagState)
        return await graph.load(job_id or "", job_id is None)


def page() -> rx.Component:
    return frame(
        rx.vstack(
            rx.cond(
                DagState.whole,
                rx.heading("Pipeline", as_="h1", size="6"),
                rx.heading("Dependencies of ", rx.code(DagState.job_id), as_="h1", size="6"),
            ),
            rx.cond(
                DagState.whole,
                rx.text("Every declared job, by topological level."),
                rx.text(
                    "The job with everything upstream and downstream of it. ",
                    rx.link("Show the whole pipeline", href="/dag", text_decoration="underline"),
                ),
            ),
            dag_view(),
            spacing="3",
            width="100%",
        )
    )
