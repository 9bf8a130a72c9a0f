"""Events: every state change in the sandbox becomes a Stripe-shaped event.

Promises: `emit` stores an event (`evt_`, `object: event`, `api_version`, `created`,
`data.object` as it is now, `data.previous_attributes` when given, `type`, `livemode`,
`pending_webhooks`, `request`, and `account` for connected-account events), owned by the account
it belongs to, and hands it to the webhook dispatcher. It emits only the types in `EVENT_TYPES`,
every one of which Stripe has.
"""

from __future__ import annotations

import threading
from typing import Any

import stripe

from .store import Obj, Store, render
from .webhooks import WebhookDispatcher

API_VERSION: str = stripe.api_version

EVENT_TYPES: frozenset[str] = frozenset(
    {
        "account.external_account.created",
        "account.updated",
        "application_fee.created",
        "application_fee.refunded",
        "balance.available",
        "capability.updated",
        "charge.dispute.closed",
        "charge.dispute.created",
        "charge.dispute.funds_reinstated",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.updated",
        "charge.failed",
        "charge.refunded",
        "charge.succeeded",
        "charge.updated",
        "checkout.session.completed",
        "checkout.session.expired",
        "customer.created",
        "customer.subscription.created",
        "customer.subscription.deleted",
        "customer.subscription.updated",
        "customer.updated",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "payment_intent.canceled",
        "payment_intent.created",
        "payment_intent.payment_failed",
        "payment_intent.requires_action",
        "payment_intent.succeeded",
        "payment_method.attached",
        "payment_method.detached",
        "payout.canceled",
        "payout.created",
        "payout.failed",
        "payout.paid",
        "payout.updated",
        "price.created",
        "product.created",
        "refund.created",
        "refund.failed",
        "refund.updated",
        "setup_intent.created",
        "setup_intent.setup_failed",
        "setup_intent.succeeded",
        "transfer.created",
        "transfer.reversed",
    }
)
"""Every event type the sandbox can emit: `emit` refuses any other."""

_request = threading.local()


def set_request(request_id: str | None, idempotency_key: str | None) -> None:
    """Remember which API request the events emitted on this thread come from."""
    _request.value = {"id": request_id, "idempotency_key": idempotency_key}


def current_request() -> dict[str, Any]:
    return dict(getattr(_request, "value", None) or {"id": None, "idempotency_key": None})


def emit(
    store: Store,
    webhooks: WebhookDispatcher,
    type_: str,
    obj: Obj,
    account: str | None = None,
    previous: dict[str, Any] | None = None,
) -> Obj:
    if type_ not in EVENT_TYPES:
        raise ValueError(f"The sandbox does not emit {type_!r}: Stripe has no such event.")
    event: Obj = {
        "id": store.new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": store.now(),
        "data": {"object": render(obj)},
        "livemode": False,
        "pending_webhooks": 1 if webhooks.endpoint_for(account) else 0,
        "request": current_request(),
        "type": type_,
    }
    if previous is not None:
        event["data"]["previous_attributes"] = render(previous)
    if account is not None:
        event["account"] = account
    store.add(event, account)
    webhooks.enqueue(event)
    return event


def previous_of(obj: Obj, *keys: str) -> dict[str, Any]:
    """The current values of `keys`, to pass as previous_attributes before changing them."""
    return {k: render(obj.get(k)) for k in keys}


def changed_fields(before: Obj, obj: Obj) -> dict[str, Any]:
    """The top-level fields of `obj` that differ from `before` (a `render` of it), with their
    old values: an `*.updated` event's previous_attributes. Empty when nothing changed."""
    after = render(obj)
    return {k: v for k, v in before.items() if after.get(k) != v}
