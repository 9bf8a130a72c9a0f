"""Events: every state change in the sandbox becomes a Stripe-shaped event.

Promises: `emit` stores an event (`evt_`, `object: event`, `api_version`, `created`,
`data.object` as it is now, `data.previous_attributes` when given, `type`, `livemode`,
`pending_webhooks`, `request`, and `account` for connected-account events), owned by the account
it belongs to, and hands it to the webhook dispatcher.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import stripe

from .store import Obj, render

if TYPE_CHECKING:
    from .sandbox import Sandbox

API_VERSION: str = stripe.api_version

_request = threading.local()


def set_request(request_id: str | None, idempotency_key: str | None) -> None:
    """Remember which API request the events emitted on this thread come from."""
    _request.value = {"id": request_id, "idempotency_key": idempotency_key}


def current_request() -> dict[str, Any]:
    return dict(getattr(_request, "value", None) or {"id": None, "idempotency_key": None})


def emit(
    sb: Sandbox,
    type_: str,
    obj: Obj,
    account: str | None = None,
    previous: dict[str, Any] | None = None,
) -> Obj:
    event: Obj = {
        "id": sb.store.new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": sb.store.now(),
        "data": {"object": render(obj)},
        "livemode": False,
        "pending_webhooks": 1 if sb.webhooks.endpoint_for(account) else 0,
        "request": current_request(),
        "type": type_,
    }
    if previous is not None:
        event["data"]["previous_attributes"] = render(previous)
    if account is not None:
        event["account"] = account
    sb.store.add(event, account)
    sb.webhooks.enqueue(event)
    return event


def previous_of(obj: Obj, *keys: str) -> dict[str, Any]:
    """The current values of `keys`, to pass as previous_attributes before changing them."""
    return {k: render(obj.get(k)) for k in keys}
