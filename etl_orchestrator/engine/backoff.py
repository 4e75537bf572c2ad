"""Exponential backoff with jitter between attempts (pure)."""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int,
    *,
    base_s: float,
    factor: float,
    max_s: float,
    jitter: float,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based) before the next one.

    min(max_s, base_s * factor**(attempt-1)), then spread by ±jitter so that many runs failing
    together do not all come back at the same instant.
    """
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    exponent = min(attempt - 1, 64)
    delay = min(max_s, base_s * factor**exponent)
    if jitter:
        delay *= 1 + (rng or random).uniform(-jitter, jitter)
    return max(0.0, delay)
