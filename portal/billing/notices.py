"""What a member is told of their membership's payments by email, queued in the unit of work of
the invoice event that tells it (`portal.outbox`): nothing is sent for work that rolls back.

- A renewal paid (an invoice billing a new period, Stripe's `billing_reason`
  `subscription_cycle`; the first invoice is the Checkout the mentee just finished) is told once
  per invoice.
- A membership payment that failed is told once per failed attempt (Stripe retries on its
  schedule), with a link to the cards page to give one that works; the first payment, made on
  Checkout's page, tells the mentee there.

Both are about money, so neither can be switched off.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from portal.models import Invoice, User
from portal.money import format_money
from portal.outbox import queue_mail, when

RENEWAL = "subscription_cycle"
FIRST = "subscription_create"


def membership_renewed(member: User, invoice: Invoice, data: dict[str, Any]) -> None:
    """The member hears that a renewal was paid (an invoice of a new period, seen paid)."""
    if data.get("billing_reason") != RENEWAL or data.get("status") != "paid":
        return
    subscription = invoice.subscription
    period_end = subscription.current_period_end if subscription is not None else None
    amount = format_money(invoice.amount, invoice.currency)
    queue_mail(
        "membership.renewed",
        member,
        f"Membership renewed: {amount} paid",
        "membership_renewed",
        dedupe_key=f"membership.renewed:{invoice.stripe_invoice_id}",
        invoice=invoice,
        amount=amount,
        until=when(period_end, member) if period_end else None,
    )


def membership_payment_failed(member: User, invoice: Invoice, data: dict[str, Any]) -> None:
    """The member hears that a payment failed and where to give a card that works."""
    if data.get("billing_reason") == FIRST:
        return
    attempt = int(data.get("attempt_count") or 0)
    retry = data.get("next_payment_attempt")
    amount = format_money(invoice.amount, invoice.currency)
    queue_mail(
        "membership.payment_failed",
        member,
        f"Your membership payment of {amount} failed: please update your card",
        "membership_payment_failed",
        dedupe_key=f"membership.payment_failed:{invoice.stripe_invoice_id}:{attempt}",
        invoice=invoice,
        amount=amount,
        retry=when(datetime.fromtimestamp(retry, UTC), member) if isinstance(retry, int) else None,
    )
