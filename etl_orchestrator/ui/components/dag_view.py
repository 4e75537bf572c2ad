"""The interactive dependency graph (React Flow) of a job or of the whole pipeline.

The job page mounts `dag_view()` and sends `DagState.load(job_id, whole)` (whole: the whole
pipeline instead of the job with its upstream and downstream). The graph's structure lives in
DagState (sent once per load); statuses come from the shared DagFeed, which the live task
refreshes, and the browser merges them into the nodes. React Flow's code is fetched only when
the graph is shown (assets/dag_flow.jsx lazy-loads assets/dag_flow_impl.jsx).
"""

# Reflex types its component constructors as returning Any.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from etl_orchestrator.db import session_scope
from etl_orchestrator.ui.state import DagFeed, join_dag, signed_in, signin_redirect
from etl_orchestrator.web import dag_views

#: Longest job id the jobs table holds; anything longer cannot be a job.
MAX_JOB_ID = 128
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
    """assets/dag_flow.jsx: React Flow behind React.lazy, with the console's node and edge."""

    library = rx.asset("dag_flow.jsx").importable_path
    tag = "DagFlow"
    lib_dependencies: list[str] = ["@xyflow/react@12.12.1"]

    nodes: rx.Var[list[dict[str, Any]]]
    edges: rx.Var[list[dict[str, Any]]]
    bands: rx.Var[list[dict[str, Any]]]
    statuses: rx.Var[dict[str, str]]
    blocked: rx.Var[dict[str, str]]
    color_mode: rx.Var[str]
    label: rx.Var[str]


def _read(job_id: str, whole: bool) -> dag_views.DagGraph:
    with session_scope() as session:
        return dag_views.read_graph(session, job_id, whole=whole)


class DagState(rx.State):
    job_id: rx.Field[str] = rx.field("")
    whole: rx.Field[bool] = rx.field(False)
    loaded: rx.Field[bool] = rx.field(False)
    problem: rx.Field[str] = rx.field("")
    nodes: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    edges: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    bands: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)

    async def load(self, job_id: str, whole: bool) -> EventSpec | None:
        """Any client can send this with anything: the session is checked, the input coerced."""
        if await asyncio.to_thread(signed_in, self) is None:
            return signin_redirect(self)
        self.job_id, self.whole = str(job_id or "")[:MAX_JOB_ID], bool(whole)
        graph = await asyncio.to_thread(_read, self.job_id, self.whole)
        self.problem = graph.problem
        self.nodes = [asdict(node) for node in graph.nodes]
        self.edges = [asdict(edge) for edge in graph.edges]
        self.bands = [asdict(band) for band in graph.bands]
        self.loaded = True
        if self.nodes:  # statuses only matter with a graph to put them on
            await join_dag(self)
        return None

    @rx.var
    def summary(self) -> str:
        levels = len(self.bands)
        jobs = len(self.nodes)
        return (
            f"{jobs} {'job' if jobs == 1 else 'jobs'} in {levels} "
            f"{'level' if levels == 1 else 'levels'}, {len(self.edges)} dependencies"
        )


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


def dag_view() -> rx.Component:
    return rx.box(
        rx.cond(
            DagState.problem,
            rx.callout(DagState.problem, icon="triangle_alert", color_scheme="orange"),
            rx.cond(
                DagState.loaded,
                rx.vstack(
                    rx.text(DagState.summary, size="2", id="dag-summary"),
                    _legend(),
                    rx.box(
                        DagFlow.create(
                            nodes=DagState.nodes,
                            edges=DagState.edges,
                            bands=DagState.bands,
                            statuses=DagFeed.statuses,
                            blocked=DagFeed.blocked,
                            color_mode=rx.color_mode_cond("light", "dark"),
                            label=rx.cond(
                                DagState.whole,
                                "Dependency graph of the whole pipeline",
                                "Dependency graph of " + DagState.job_id,
                            ),
                        ),
                        # React Flow fills its parent, so the parent needs a height.
                        height="70vh",
                        min_height="420px",
                        width="100%",
                        border="1px solid var(--gray-6)",
                        border_radius="var(--radius-3)",
                        overflow="hidden",
                    ),
                    spacing="3",
                    width="100%",
                ),
                rx.text("Loading the graph…", role="status"),
            ),
        ),
        id="dag-view",
        width="100%",
    )
