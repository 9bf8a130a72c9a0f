"""Which function handles which Stripe event type.

Each area declares its handlers with `@handles("event.type")` in its own `events.py`, and
`HANDLER_MODULES` lists those modules so the registry is complete before the first event arrives.
A handler takes the verified event as a plain dict, works through services (adding and flushing,
never committing) and raises to fail: the webhook runner commits or rolls back the whole unit.
A handler returns `IGNORED` when the event is about nothing the portal keeps (it is then recorded
as ignored rather than processed).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
Handler = Callable[[Event], str | None]
IGNORED = "ignored"

HANDLER_MODULES = [
    "portal.webhooks.handlers",
    "portal.bookings.events",
    "portal.billing.events",
]

_handlers: dict[str, Handler] = {}


def handles(*event_types: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for event_type in event_types:
            existing = _handlers.get(event_type)
            if existing is not None and existing is not handler:
                raise RuntimeError(f"{event_type} is handled twice: {existing} and {handler}")
            _handlers[event_type] = handler
        return handler

    return register


def load_handlers() -> None:
    for module in HANDLER_MODULES:
        importlib.import_module(module)


def handler_for(event_type: str) -> Handler | None:
    return _handlers.get(event_type)


def handled_types() -> list[str]:
    return sorted(_handlers)
