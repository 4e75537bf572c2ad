"""Shared states take no orders from clients: any client can send any event over the socket."""

from __future__ import annotations

import pytest
import reflex as rx

from etl_orchestrator.ui.state import AuthState, LiveFeed, RunFeed


@pytest.mark.parametrize("state", [LiveFeed, RunFeed, AuthState], ids=lambda s: s.__name__)
def test_a_client_can_change_nothing_in_shared_or_identity_state(state: type[rx.State]):
    # setvar only calls set_<var>, and with auto-setters off there is none.
    assert set(state.event_handlers) == {"setvar"}
    own = set(state.vars) - set(rx.State.vars)
    assert own
    assert not [name for name in own if hasattr(state, f"set_{name}")]
