"""GET /api/dag[?job=<id>]: a dependency graph (the whole pipeline, or one job's), compact JSON.

The graph view fetches this as soon as its page starts, alongside React Flow's chunk, instead of
waiting for the websocket, the state's hydration and an on_load event, and instead of keeping
hundreds of nodes in Reflex state (pickled on every event of the tab and resent whole on every
hydrate). Statuses still change live through DagFeed; this is the structure at load.

Rows are arrays, not objects, so 500 jobs stay small on the wire:
nodes `[job_id, level, status, blocked_by, enabled, x, y, upstreams]`, edges
`[source, target, dep_type]`, bands `[level, x, top, bottom, count]`.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from etl_orchestrator.db import session_scope
from etl_orchestrator.web import dag_views
from etl_orchestrator.web.api import api_user, unauthorized


def encode(graph: dag_views.DagGraph, focus: str) -> dict[str, Any]:
    return {
        "problem": graph.problem,
        "focus": focus,
        "nodes": [
            [n.job_id, n.level, n.status, n.blocked_by, n.enabled, n.x, n.y, n.upstreams]
            for n in graph.nodes
        ],
        "edges": [[e.source, e.target, e.dep_type] for e in graph.edges],
        "bands": [[b.level, b.x, b.top, b.bottom, b.count] for b in graph.bands],
    }


def read(job_id: str) -> dict[str, Any]:
    """The whole pipeline when `job_id` is empty, else the job with its upstream and downstream."""
    with session_scope() as session:
        graph = dag_views.read_graph(session, job_id, whole=not job_id)
    return encode(graph, job_id)


async def dag_graph(request: Request) -> Response:
    if await api_user(request) is None:
        return unauthorized()
    job_id = request.query_params.get("job", "")[: dag_views.MAX_JOB_ID]
    # The session decides who may read, so no shared cache may keep an answer.
    graph = await run_in_threadpool(read, job_id)
    return JSONResponse(graph, headers={"Cache-Control": "no-store"})


routes = [Route("/api/dag", dag_graph, methods=["GET"])]
