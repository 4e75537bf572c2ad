"""How the demo jobs load tables: inputs, counts, replacing rows, INSERT … SELECT, lineage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Select, Table, func, inspect, select

from etl_orchestrator.examples.schema import create_missing
from etl_orchestrator.jobs import PermanentError, RunContext
from etl_orchestrator.jobs.warehouse import table_checksum, tables_checksum

_BATCH = 5_000


def count_rows(conn: Connection, *tables: Table) -> int:
    """The rows of all `tables` together: a job's records read when it reads them in full."""
    return sum(
        int(conn.execute(select(func.count()).select_from(table)).scalar_one()) for table in tables
    )


def key_columns(table: Table) -> list[str]:
    """The primary key's column names: the checksum's row order (all integer keys here)."""
    return [column.name for column in table.primary_key.columns]


def require_inputs(ctx: RunContext, inputs: Mapping[Table, str]) -> None:
    """Check the tables a job reads exist; `inputs` maps each table to the job that builds it.

    A real run fails at once with a message naming the job to run first. A dry-run creates the
    missing tables empty inside its transaction (rolled back at the end), so dry-running a job
    whose upstream never ran reports what it would do (with nothing to read) instead of failing.
    """
    existing = set(inspect(ctx.warehouse).get_table_names())
    missing = {table: job for table, job in inputs.items() if table.name not in existing}
    if not missing:
        return
    names = ", ".join(f"{table.name} (built by {job})" for table, job in missing.items())
    if not ctx.dry_run:
        raise PermanentError(
            f"{ctx.job_id} reads tables that do not exist yet: {names}. Run those jobs first."
        )
    ctx.log.warning("dry-run: %s missing; reading them as empty", names)
    create_missing(ctx.warehouse, missing)


def reset_table(conn: Connection, table: Table) -> None:
    """Create `table` if missing and empty it: every job rebuilds what it owns, so reruns agree."""
    create_missing(conn, [table])
    conn.execute(table.delete())


def insert_rows(ctx: RunContext, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert `rows` in batches (checking for cancellation between them); returns how many."""
    for start in range(0, len(rows), _BATCH):
        ctx.check_cancelled()
        ctx.warehouse.execute(table.insert(), list(rows[start : start + _BATCH]))
    return len(rows)


def replace_rows(ctx: RunContext, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    reset_table(ctx.warehouse, table)
    return insert_rows(ctx, table, rows)


def insert_select(ctx: RunContext, table: Table, query: Select[Any]) -> int:
    """INSERT INTO `table` the rows of `query` (its labels name the columns); returns the count."""
    names = [column.name for column in query.selected_columns]
    # PostgreSQL's driver only keeps an INSERT's row count when asked to.
    result = ctx.warehouse.execute(
        table.insert().from_select(names, query), execution_options={"preserve_rowcount": True}
    )
    return int(result.rowcount)


def record_lineage(ctx: RunContext, *, read: int, written: int, tables: Iterable[Table]) -> None:
    """Report true counts and a checksum over the written table(s) after the writes."""
    tables = list(tables)
    if len(tables) == 1:
        checksum = table_checksum(ctx.warehouse, tables[0], key_columns(tables[0]))
    else:
        checksum = tables_checksum(ctx.warehouse, {t.name: key_columns(t) for t in tables})
    ctx.lineage(read=read, written=written, tables=[t.name for t in tables], checksum=checksum)
    ctx.log.info(
        "read %d rows, wrote %d rows to %s (checksum %s)",
        read,
        written,
        ", ".join(t.name for t in tables),
        checksum[:12],
    )
