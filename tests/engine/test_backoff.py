"""Backoff between attempts: exponential, capped, spread by jitter, never negative."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl_orchestrator.engine.backoff import backoff_delay


def test_without_jitter_each_wait_grows_by_the_factor_until_the_cap():
    waits = [backoff_delay(n, base_s=2, factor=2, max_s=60, jitter=0) for n in range(1, 8)]
    assert waits == [2, 4, 8, 16, 32, 60, 60]


@given(
    attempt=st.integers(1, 200),
    base=st.floats(0, 100),
    factor=st.floats(1, 10),
    cap=st.floats(0, 3600),
    jitter=st.floats(0, 0.99),
    seed=st.integers(0, 2**32),
)
def test_a_wait_stays_within_the_jitter_band_around_the_capped_exponential(
    attempt, base, factor, cap, jitter, seed
):
    wait = backoff_delay(
        attempt, base_s=base, factor=factor, max_s=cap, jitter=jitter, rng=random.Random(seed)
    )
    nominal = min(cap, base * factor ** min(attempt - 1, 64))
    assert wait >= 0
    assert nominal * (1 - jitter) - 1e-9 <= wait <= nominal * (1 + jitter) + 1e-9


def test_attempt_numbers_start_at_one():
    with pytest.raises(ValueError, match="start at 1"):
        backoff_delay(0, base_s=1, factor=2, max_s=10, jitter=0)
