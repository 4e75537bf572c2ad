"""The forked attempt's isolation seen from the worker: what the fork leaves behind in it."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from etl_orchestrator.engine.isolation import Watch, run_in_child


class Cycle:
    """Garbage only the cycle collector can free."""

    def __init__(self) -> None:
        self.me = self


async def test_garbage_that_exists_at_a_fork_is_still_collected_in_the_worker() -> None:
    garbage = Cycle()
    alive = weakref.ref(garbage)
    del garbage

    def target(_send: Any) -> dict[str, Any]:
        return {"outcome": "succeeded"}

    watch = Watch(timeout_s=10, on_message=lambda _m: None, on_output=lambda _s, _l: None)
    exit_ = await run_in_child(target, watch)
    assert exit_.result is not None
    assert exit_.result["outcome"] == "succeeded"
    # Frozen for the child's sake, the cycle would stay in the worker for good: a leak that
    # grew a worker by tens of MiB per thousand attempts.
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None
