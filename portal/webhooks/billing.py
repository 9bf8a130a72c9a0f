"""Webhook handlers for mentees' billing: saved cards, the membership and its invoices.

Cards and subscriptions are re-read from Stripe before they are written, so events may arrive
in any order and the row ends up as Stripe has it now. Invoices move forward only, and a paid
one's payments become membership payments in the admin's transactions. Checkout
Sessions in `setup` and `subscription` mode reach billing through the one Checkout handler
(`portal.webhooks.payments`).

An event about a customer the portal does not know is acknowledged as ignored.
"""

from __future__ import annotations

from typing import Any

from portal.billing import cards, membership, notices, services
from portal.webhooks import IGNORED, Event


def _object(event: Event) -> dict[str, Any]:
    return event["data"]["object"]


def setup_intent_succeeded(event: Event) -> str | None:
    card = services.on_setup_intent_succeeded(_object(event))
    return None if card is not None else IGNORED


def payment_method_changed(event: Event) -> str | None:
    data = _object(event)
    customer = data.get("customer") or (
        (event["data"].get("previous_attributes") or {}).get("customer")
    )
    if cards.user_for_customer(customer) is None and not cards.cards_with_stripe_id(data["id"]):
        return IGNORED
    cards.refresh_card(data["id"])
    return None


def subscription_changed(event: Event) -> str | None:
    data = _object(event)
    if membership.owner_of(data) is None:
        return IGNORED
    membership.refresh_subscription(data["id"])
    return None


def invoice_changed(event: Event) -> str | None:
    data = _object(event)
    row = membership.apply_invoice(data)
    if row is None:
        return IGNORED
    if event["type"] == "invoice.paid" and row.subscription is not None:
        if data.get("billing_reason") == notices.RENEWAL:
            # The mail gives the new period's end, which an event still on its way may hold.
            membership.refresh_subscription(row.subscription.stripe_subscription_id)
        notices.membership_renewed(row.user, row, data)
    if event["type"] == "invoice.payment_failed" and row.subscription is not None:
        # A failure told after the invoice was paid or voided asks the member for nothing.
        if row.status not in membership.SETTLED_INVOICES:
            notices.membership_payment_failed(row.user, row, data)
        # A failed renewal makes the membership past_due; read it now, whatever came first.
        membership.refresh_subscription(row.subscription.stripe_subscription_id)
    if data.get("status") == "paid":
        membership.record_payments(row)
    return None
