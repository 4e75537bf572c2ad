"""An invisible timer: fires `on_tick` every `interval_ms` in the browser (0 stops it)."""

from __future__ import annotations

import reflex as rx
from reflex.event import no_args_event_spec


class Poller(rx.Component):
    library = "$/public" + rx.asset("poller.jsx", shared=True)
    tag = "Poller"

    interval_ms: rx.Var[int]
    on_tick: rx.EventHandler[no_args_event_spec]  # type: ignore[valid-type,type-arg]


poller = Poller.create
