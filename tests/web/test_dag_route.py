"""GET /api/dag: the graph the browser draws, for signed-in users only, as compact rows."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.registry import load_jobs
from etl_orchestrator.jobs.sync import sync_jobs
from etl_orchestrator.timeutil import utcnow
from etl_orchestrator.web import dag_route, dag_views
from tests.web.conftest import MakeUser, routes_client, sign_in


@pytest.fixture(autouse=True)
def demo() -> None:
    with session_scope() as session:
        sync_jobs(session, load_jobs(["etl_orchestrator.examples.pipeline"]), now=utcnow())


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The conftest's client, with the graph route mounted as the app mounts it."""
    async with routes_client(base_url, *dag_route.routes) as test_client:
        yield test_client


def expected(job_id: str) -> dag_views.DagGraph:
    with session_scope() as session:
        return dag_views.read_graph(session, job_id, whole=not job_id)


async def test_without_a_session_the_graph_is_not_read(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/dag", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert "not signed in" in response.json()["error"]


@pytest.mark.parametrize("job_id", ["", "stg_orders"])
async def test_a_viewer_reads_the_graph_as_dag_views_builds_it(
    client: httpx.AsyncClient, make_user: MakeUser, job_id: str
) -> None:
    await sign_in(client, make_user("viewer"))
    response = await client.get("/api/dag", params={"job": job_id} if job_id else None)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    graph = expected(job_id)
    assert graph.nodes
    assert not graph.problem
    assert response.json() == dag_route.encode(graph, job_id)
    body = response.json()
    first = graph.nodes[0]
    assert body["nodes"][0] == [
        first.job_id,
        first.level,
        first.status,
        first.blocked_by,
        first.enabled,
        first.x,
        first.y,
        first.upstreams,
    ]
    assert body["focus"] == job_id


async def test_an_unknown_or_forged_job_is_explained(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await sign_in(client, make_user("viewer"))
    response = await client.get("/api/dag", params={"job": "x" * 10_000})
    assert response.status_code == 200
    body = response.json()
    assert body["nodes"] == []
    assert body["edges"] == []
    assert body["problem"] == f"There is no declared job {'x' * dag_views.MAX_JOB_ID!r}."
