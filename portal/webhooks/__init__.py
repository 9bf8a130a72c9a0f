"""Stripe's webhooks: verified at the door (`views`), applied exactly once (`runner`), each event
type sent to its one handler by the table in `dispatch`.

A handler takes the verified event as a plain dict, works through the domain's services (adding
and flushing, never committing) and raises to fail: the runner commits or rolls back the whole
unit. It returns `IGNORED` when the event is about nothing the portal keeps (recorded as
ignored rather than processed), and `wait_for(object_id)` when it is about an object the portal
has not recorded yet: the runner keeps the event, deferred, and applies it once an event about
that object has been applied (DESIGN rule 8).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Event = dict[str, Any]
IGNORED = "ignored"


@dataclass(frozen=True)
class WaitFor:
    """The event is about `object_id` (a PaymentIntent...), which the portal has not seen yet."""

    object_id: str


def wait_for(object_id: str) -> WaitFor:
    return WaitFor(object_id)


Handler = Callable[[Event], str | WaitFor | None]
