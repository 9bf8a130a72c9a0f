"""Webhook handlers for payments: Checkout in every mode, a booking's PaymentIntent, refunds.

A Checkout Session in `payment` mode is a booking's (`bookings.fulfilment`); in `setup` mode it
saved a card and in `subscription` mode it started a membership (billing's services). Events
about objects that are not the portal's are acknowledged as ignored.
"""

from __future__ import annotations

from typing import Any

from portal.billing import services as billing
from portal.bookings import cancellation, fulfilment
from portal.webhooks import IGNORED, Event, WaitFor, wait_for


def _object(event: Event) -> dict[str, Any]:
    return event["data"]["object"]


def checkout_completed(event: Event) -> str | None:
    session = _object(event)
    mode = session.get("mode")
    if mode == "setup":
        billing.on_setup_checkout_completed(session)
        return None
    if mode == "subscription":
        billing.on_subscription_checkout_completed(session)
        return None
    return None if fulfilment.fulfil_checkout(session) is not None else IGNORED


def checkout_async_failed(event: Event) -> str | None:
    return None if fulfilment.record_async_failure(_object(event)) is not None else IGNORED


def checkout_expired(event: Event) -> str | None:
    return None if fulfilment.expire_checkout(_object(event)) is not None else IGNORED


def payment_intent_succeeded(event: Event) -> str | None:
    return None if fulfilment.fulfil_payment_intent(_object(event)) is not None else IGNORED


def payment_intent_failed(event: Event) -> str | None:
    return None if fulfilment.record_payment_failure(_object(event)) is not None else IGNORED


def charge_refunded(event: Event) -> str | WaitFor | None:
    charge = _object(event)
    if cancellation.sync_charge_refunds(charge) is not None:
        return None
    # A refund of a payment not recorded yet waits for the payment.
    return wait_for(charge["payment_intent"]) if charge.get("payment_intent") else IGNORED
