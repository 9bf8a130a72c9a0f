"""A membership renewal whose events reach the portal out of order, through the sandbox:
Stripe sends them in the order they happened, but a retried delivery can bring one after the
next. A failed attempt told after the payment asks the member to fix no card; a payment told
before the membership's new period gives that period's end in the renewal mail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import Invoice, InvoiceStatus, SubscriptionStatus
from portal.time_zones import show_time
from tests.billing.conftest import (
    DECLINES_WHEN_CHARGED,
    cards_of,
    save_card,
    signed_in_mentee,
    subscribe,
    subscription_of,
)
from tests.live import LivePortal, LiveSandbox
from tests.mailbox import text_of, with_subject

pytestmark = pytest.mark.usefixtures("settled")

DAY = 86400


def _sandbox_event(live_sandbox: LiveSandbox, event_type: str, invoice_id: str) -> str:
    events = live_sandbox.client().v1.events.list({"type": event_type, "limit": 100})
    [found] = [e.id for e in events.data if e.data.object["id"] == invoice_id]
    return found


def test_a_failed_attempt_told_after_the_invoice_was_paid_asks_the_member_for_nothing(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    subscribe(live_portal, browser)
    save_card(live_portal, browser, DECLINES_WHEN_CHARGED)
    live_sandbox.flush()
    by_last4 = {card.last4: card for card in cards_of(mentee)}
    live_portal.post(browser, f"/billing/cards/{by_last4['0341'].id}/default", "/billing/cards")
    live_sandbox.flush()
    good_card = by_last4["4242"].stripe_payment_method_id

    # The renewal declines, then the member's good card pays it: both events are held.
    live_sandbox.control("webhooks/pause")
    live_sandbox.advance(32 * DAY)
    stripe = live_sandbox.client()
    subscription = subscription_of(mentee)
    assert subscription is not None
    [renewal] = stripe.v1.invoices.list(
        {"subscription": subscription.stripe_subscription_id, "status": "open"}
    ).data
    stripe.v1.invoices.pay(renewal.id, {"payment_method": good_card})
    paid = _sandbox_event(live_sandbox, "invoice.paid", renewal.id)
    failed = _sandbox_event(live_sandbox, "invoice.payment_failed", renewal.id)

    live_sandbox.control("webhooks/deliver", ids=[paid, failed])
    live_sandbox.control("webhooks/resume")
    live_sandbox.flush()

    assert with_subject(app, "Your membership payment of $19.00 failed") == []
    assert len(with_subject(app, "Membership renewed: $19.00 paid")) == 1
    db.session.expire_all()
    row = db.session.scalar(sa.select(Invoice).where(Invoice.stripe_invoice_id == renewal.id))
    assert row is not None and row.status is InvoiceStatus.PAID
    membership = subscription_of(mentee)
    assert membership is not None and membership.status is SubscriptionStatus.ACTIVE


def test_a_renewal_paid_before_its_new_period_is_told_gives_the_new_period_end(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    subscribe(live_portal, browser)
    live_sandbox.flush()

    live_sandbox.control("webhooks/pause")
    live_sandbox.advance(32 * DAY)
    stripe = live_sandbox.client()
    subscription = subscription_of(mentee)
    assert subscription is not None
    renewal = next(
        i
        for i in stripe.v1.invoices.list({"subscription": subscription.stripe_subscription_id})
        if i.billing_reason == "subscription_cycle"
    )
    live_sandbox.control(
        "webhooks/deliver", ids=[_sandbox_event(live_sandbox, "invoice.paid", renewal.id)]
    )
    live_sandbox.control("webhooks/resume")
    live_sandbox.flush()

    period_end = (
        stripe.v1.subscriptions.retrieve(subscription.stripe_subscription_id)
        .items.data[0]
        .current_period_end
    )
    until = show_time(datetime.fromtimestamp(period_end, UTC), mentee.time_zone)
    [renewed] = with_subject(app, "Membership renewed: $19.00 paid")
    assert f"run until {until}" in " ".join(text_of(renewed).split())
