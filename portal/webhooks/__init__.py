"""Stripe's webhooks: verified at the door (`views`), applied exactly once (`runner`), each event
type sent to its one handler by the table in `dispatch`.

A handler takes the verified event as a plain dict, works through the domain's services (adding
and flushing, never committing) and raises to fail: the runner commits or rolls back the whole
unit. It returns `IGNORED` when the event is about nothing the portal keeps (recorded as
ignored rather than processed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
Handler = Callable[[Event], str | None]
IGNORED = "ignored"
