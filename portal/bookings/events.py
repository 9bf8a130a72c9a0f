"""Webhook handlers for bookings: Checkout, the PaymentIntent behind it, and its refunds.

Each handler takes the verified event, works through the booking services (flush, never
commit) and raises to fail; the webhook runner commits. Events about objects that are not
bookings are acknowledged as ignored.
"""

from __future__ import annotations

from typing import Any

from portal.bookings import cancellation, fulfilment
from portal.webhooks.registry import IGNORED, Event, handles


def _object(event: Event) -> dict[str, Any]:
    return event["data"]["object"]


@handles("checkout.session.completed", "checkout.session.async_payment_succeeded")
def checkout_completed(event: Event) -> str | None:
    session = _object(event)
    booking = fulfilment.fulfil_checkout(session)  # other modes go to their own fulfillers
    return None if booking is not None or session.get("mode") != "payment" else IGNORED


@handles("checkout.session.async_payment_failed")
def checkout_async_failed(event: Event) -> str | None:
    return None if fulfilment.record_async_failure(_object(event)) is not None else IGNORED


@handles("checkout.session.expired")
def checkout_expired(event: Event) -> str | None:
    return None if fulfilment.expire_checkout(_object(event)) is not None else IGNORED


@handles("payment_intent.succeeded")
def payment_intent_succeeded(event: Event) -> str | None:
    return None if fulfilment.settle_payment_intent(_object(event)) else IGNORED


@handles("payment_intent.payment_failed")
def payment_intent_failed(event: Event) -> str | None:
    return None if fulfilment.record_payment_failure(_object(event)) is not None else IGNORED


@handles("charge.refunded")
def charge_refunded(event: Event) -> str | None:
    return None if cancellation.sync_charge_refunds(_object(event)) is not None else IGNORED
