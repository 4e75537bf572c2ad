"""GET /api/audit.csv: the audit, filtered like the audit page, streamed as CSV (operators+).

The role is read from the database on the request (session cookie or API token); the rows are
read in keyset batches while the response streams, so an export of any size stays small in memory.
"""

from __future__ import annotations

from collections.abc import Iterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from etl_orchestrator.db import session_scope
from etl_orchestrator.services import audit_queries
from etl_orchestrator.timeutil import utcnow
from etl_orchestrator.web.actions import OPERATOR, allows
from etl_orchestrator.web.api import api_user, unauthorized

#: Who may read the audit: it names people and their reasons, so not every viewer.
AUDIT_READER = OPERATOR


def _lines(filters: audit_queries.AuditFilter) -> Iterator[str]:
    # Starlette runs a sync iterator in a thread: the database reads stay off the event loop.
    yield audit_queries.csv_header()
    with session_scope() as session:
        for row in audit_queries.iter_audit(session, filters):
            yield audit_queries.csv_row(row)


async def audit_csv(request: Request) -> Response:
    who = await api_user(request)
    if who is None:
        return unauthorized()
    if not allows(who.role, AUDIT_READER):
        return JSONResponse(
            {"error": f"reading the audit needs the {AUDIT_READER} role; you are {who.role}"},
            status_code=403,
        )
    try:
        filters = audit_queries.parse_filter(dict(request.query_params))
    except audit_queries.AuditQueryError as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    name = f"etl-audit-{utcnow().strftime('%Y%m%dT%H%M%SZ')}.csv"
    return StreamingResponse(
        _lines(filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


routes = [Route("/api/audit.csv", audit_csv, methods=["GET"])]
