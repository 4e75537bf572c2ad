"""A countdown in seconds to a UTC moment, ticking in the browser (no server round trip)."""

from __future__ import annotations

import reflex as rx


class Countdown(rx.Component):
    library = "$/public" + rx.asset("countdown.jsx", shared=True)
    tag = "Countdown"

    #: ISO 8601 UTC ("…Z"); "" renders nothing.
    until: rx.Var[str]
    prefix: rx.Var[str]
    #: Shown once the moment has passed.
    done: rx.Var[str]


countdown = Countdown.create
