"""The interactive dependency graph (React Flow) of a job or of the whole pipeline.

`dag_view()` mounts assets/dag_flow.jsx, which fetches the graph's structure from GET /api/dag
(web/dag_route.py) and React Flow's lazily loaded code (assets/dag_flow_impl.jsx) together as
soon as the page starts. Statuses come from the shared DagFeed, which the live task refreshes,
and the browser merges them into the nodes; `DagState.load(job_id, whole)` links the client to
it (and names the job for the page's heading).
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import asyncio

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.ui.state import DagFeed, join_dag, signed_in, signin_redirect
from etl_orchestrator.web.dag_views import MAX_JOB_ID

#: The statuses the legend explains, with the symbol the graph draws beside each.
LEGEND = (
    ("✓", "succeeded"),
    ("✕", "failed"),
    ("⊘", "upstream failed"),
    ("▶", "running"),
    ("➜", "dispatched"),
    ("↻", "retrying"),
    ("…", "queued"),
    ("⏸", "waiting"),
    ("■", "cancelled"),
    ("○", "no runs yet"),
)


class DagFlow(rx.Component):
    """assets/dag_flow.jsx: the graph fetched from /api/dag, React Flow behind React.lazy."""

    library = rx.asset("dag_flow.jsx").importable_path
    tag = "DagFlow"
    lib_dependencies: list[str] = ["@xyflow/react@12.12.1"]

    #: Both unset on the /dag pages: the job (if any) is the route's job_id.
    job: rx.Var[str]
    whole: rx.Var[bool]
    statuses: rx.Var[dict[str, str]]
    blocked: rx.Var[dict[str, str]]
    color_mode: rx.Var[str]


class DagState(rx.State):
    job_id: rx.Field[str] = rx.field("")
    whole: rx.Field[bool] = rx.field(False)

    async def load(self, job_id: str, whole: bool) -> EventSpec | None:
        """Any client can send this with anything: the session is checked, the input coerced."""
        if await asyncio.to_thread(signed_in, self) is None:
            return signin_redirect(self)
        self.job_id, self.whole = str(job_id or "")[:MAX_JOB_ID], bool(whole)
        await join_dag(self)
        return None


def _legend() -> rx.Component:
    return rx.el.details(
        rx.el.summary("How to read the graph"),
        rx.el.ul(
            *[
                rx.el.li(
                    rx.el.span(icon, aria_hidden="true", font_weight="700", margin_right="0.3em"),
                    word,
                )
                for icon, word in LEGEND
            ],
            display="flex",
            flex_wrap="wrap",
            gap="0.4rem 1rem",
            list_style="none",
            padding="0",
            margin="0.5rem 0",
        ),
        rx.text(
            "Columns are topological levels: a job sits one level right of its highest "
            "upstream. Solid arrows are success dependencies (the upstream must succeed), "
            "dashed arrows completion dependencies (any end will do); hover an arrow for its "
            "type. A dashed orange border with ⚠ marks a blocked job and names the upstream "
            "that blocks it. Tab moves between jobs; Enter opens one. A large pipeline opens "
            "on its first levels and draws only what is in view: pan, zoom, or use Fit view.",
            size="2",
        ),
        font_size="var(--font-size-2)",
    )


def dag_view(job: rx.Var[str] | None = None, whole: rx.Var[bool] | None = None) -> rx.Component:
    """The graph of `job` (or the whole pipeline when `whole`); on the /dag pages, leave both
    unset: the graph then follows the route, known before any state has loaded."""
    route = {} if job is None else {"job": job, "whole": whole}
    return rx.box(
        DagFlow.create(
            _legend(),
            statuses=DagFeed.statuses,
            blocked=DagFeed.blocked,
            color_mode=rx.color_mode_cond("light", "dark"),
            **route,
        ),
        id="dag-view",
        width="100%",
    )
