"""Operational demo jobs: a flaky inventory sync that needs retries, and a strict quality gate."""

from __future__ import annotations

import random

from pydantic import BaseModel, Field
from sqlalchemy import select

from etl_orchestrator.examples import schema as wh
from etl_orchestrator.examples.data import ensure_sources
from etl_orchestrator.examples.load import record_lineage, replace_rows
from etl_orchestrator.examples.schedule import BEFORE_DAILY, HOURLY
from etl_orchestrator.jobs import PermanentError, RetryPolicy, RunContext, TransientError, job

FLAKY_RETRY = RetryPolicy(max_attempts=5, base_s=1, factor=2, max_s=8, jitter=0.1)
FLAKY_FAILURE_RATE = 0.5
#: How many offending rows a quality-gate failure names; the rest are counted.
NAMED_BAD_ROWS = 10


def flaky_attempt_fails(run_id: int, attempt: int) -> bool:
    """Whether this attempt of the inventory sync times out (a fair coin per run and attempt).

    Seeded by run and attempt so a rerun of the same attempt behaves the same. The last attempt
    the retry policy allows always gets through: the demo shows retries, not a failure list.
    """
    if attempt >= FLAKY_RETRY.max_attempts:
        return False
    return random.Random(f"inventory:{run_id}:{attempt}").random() < FLAKY_FAILURE_RATE


@job(
    id="flaky_inventory_sync",
    name="Inventory sync (flaky)",
    cron=HOURLY,
    retry=FLAKY_RETRY,
    tags=["inventory", "demo-flaky"],
    domain="operations",
    reads=["src_inventory"],
    writes=["inventory_snapshot"],
    timeout_s=120,
)
def flaky_inventory_sync(ctx: RunContext) -> None:
    """Copy stock levels from the (simulated, unreliable) inventory service; flags reorders."""
    if flaky_attempt_fails(ctx.run_id, ctx.attempt):
        raise TransientError(
            f"inventory service timed out (simulated) on attempt {ctx.attempt} of "
            f"{FLAKY_RETRY.max_attempts}; the engine retries it with backoff"
        )
    ensure_sources(ctx.warehouse)
    i = wh.src_inventory.c
    rows = [
        dict(row) | {"needs_reorder": row["on_hand"] <= row["reorder_point"]}
        for row in ctx.warehouse.execute(
            select(wh.src_inventory).order_by(i.store_id, i.product_id)
        ).mappings()
    ]
    written = replace_rows(ctx, wh.inventory_snapshot, rows)
    reorder = sum(row["needs_reorder"] for row in rows)
    ctx.log.info("%d store/product pairs synced, %d below their reorder point", written, reorder)
    record_lineage(ctx, read=len(rows), written=written, tables=[wh.inventory_snapshot])


class QuarantineParams(BaseModel):
    """How strict the order-line contract is."""

    max_bad_rows: int = Field(
        default=0,
        ge=0,
        description="Bad order lines tolerated (and quarantined) before the job fails",
    )


def _reason(quantity: int, unit_price_cents: int, known_product: bool) -> str | None:
    if quantity <= 0:
        return f"quantity {quantity} is not positive"
    if unit_price_cents < 0:
        return f"unit price {unit_price_cents} is negative"
    if not known_product:
        return "product is not in the catalogue"
    return None


@job(
    id="quarantine_bad_rows",
    name="Order-line quality gate",
    cron=BEFORE_DAILY,
    params=QuarantineParams,
    retry=RetryPolicy(max_attempts=1),
    tags=["quality", "sales"],
    domain="sales",
    reads=["src_order_lines", "src_products"],
    writes=["quarantine_order_lines"],
    timeout_s=300,
    enabled=False,
)
def quarantine_bad_rows(ctx: RunContext, p: QuarantineParams) -> None:
    """Check source order lines against their contract; quarantine or fail on violations.

    Disabled by default: the demo data holds a few bad lines on purpose, so with the default
    tolerance of 0 this job fails permanently, naming them.
    """
    ensure_sources(ctx.warehouse)
    products = set(ctx.warehouse.execute(select(wh.src_products.c.product_id)).scalars())
    line = wh.src_order_lines.c
    read = len(products)
    bad = []
    query = select(wh.src_order_lines).order_by(line.order_id, line.line_no)
    for row in ctx.warehouse.execute(query).mappings():
        read += 1
        reason = _reason(row["quantity"], row["unit_price_cents"], row["product_id"] in products)
        if reason is not None:
            bad.append(
                {
                    "order_id": row["order_id"],
                    "line_no": row["line_no"],
                    "product_id": row["product_id"],
                    "quantity": row["quantity"],
                    "unit_price_cents": row["unit_price_cents"],
                    "reason": reason,
                }
            )
    if len(bad) > p.max_bad_rows:
        named = "; ".join(
            f"order {row['order_id']} line {row['line_no']}: {row['reason']}"
            for row in bad[:NAMED_BAD_ROWS]
        )
        more = f" and {len(bad) - NAMED_BAD_ROWS} more" if len(bad) > NAMED_BAD_ROWS else ""
        raise PermanentError(
            f"{len(bad)} source order lines break the contract ({named}{more}). "
            "Fix them in the shop system, or rerun with max_bad_rows >= "
            f"{len(bad)} to quarantine them instead."
        )
    written = replace_rows(ctx, wh.quarantine_order_lines, bad)
    ctx.log.info("%d bad order lines quarantined", written)
    record_lineage(ctx, read=read, written=written, tables=[wh.quarantine_order_lines])
