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


def refund_changed(event: Event) -> str | WaitFor | None:
    """`refund.created`, `refund.updated`, `refund.failed`: the refund as Stripe has it now."""
    return _waiting_for_payment(*cancellation.sync_refund(_object(event)["id"]))


def transfer_reversed(event: Event) -> str | WaitFor | None:
    """A coach's transfer reversed for a refund: apply each refund it names. (A reversal for a
    lost dispute names none; `portal.disputes` records those as it makes them.)"""
    transfer = _object(event)
    reversals = (transfer.get("reversals") or {}).get("data") or []
    refunds = [r["source_refund"] for r in reversals if r.get("source_refund")]
    for refund_id in refunds:
        transaction, intent = cancellation.sync_refund(refund_id)
        if transaction is None:
            return _waiting_for_payment(None, intent)
    return None if refunds else IGNORED


def application_fee_refunded(event: Event) -> str | WaitFor | None:
    """Part of the platform's fee given back: the charge's refunds as Stripe has them now."""
    return _waiting_for_payment(
        *cancellation.sync_application_fee_refunds(_object(event)["charge"])
    )


def _waiting_for_payment(transaction: object, intent: str | None) -> str | WaitFor | None:
    if transaction is not None:
        return None
    # A refund of a payment not recorded yet waits for the payment.
    return wait_for(intent) if intent else IGNORED


def charge_refunded(event: Event) -> str | WaitFor | None:
    charge = _object(event)
    if cancellation.sync_charge_refunds(charge) is not None:
        return None
    # A refund of a payment not recorded yet waits for the payment.
    return wait_for(charge["payment_intent"]) if charge.get("payment_intent") else IGNORED
