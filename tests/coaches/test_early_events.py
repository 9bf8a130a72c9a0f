"""RELIABILITY 39: an event that arrives before the object it is about is kept, and applied
once when that object is recorded; its redeliveries neither lose it nor apply it twice."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from flask import Flask

from portal import ledger
from portal.extensions import db
from portal.models import EventStatus, StripeEvent, Transaction, TransactionStatus, User
from tests.builders import make_paid_checkout, make_slot
from tests.coaches.conftest import FakeStripe
from tests.webhooks import payloads
from tests.webhooks.signing import PLATFORM_PATH, platform_secret, signed_post


def _deliver(app: Flask, event: dict) -> str:
    client = app.test_client()
    response = signed_post(client, PLATFORM_PATH, event, platform_secret(client))
    assert response.status_code == 200, response.text
    return response.text


def _status(event: dict) -> EventStatus:
    db.session.expire_all()
    return db.session.scalar(
        sa.select(StripeEvent.status).where(StripeEvent.stripe_event_id == event["id"])
    )


def test_a_dispute_before_its_payment_is_applied_once_the_payment_is_recorded(
    app: Flask, mentee: User, bookable_coach: User, stripe_fake: FakeStripe
) -> None:
    _, intent = make_paid_checkout(stripe_fake, mentee, make_slot(bookable_coach))
    dispute = payloads.event("charge.dispute.created", payloads.dispute(intent["id"], 10000))
    assert _deliver(app, dispute) == "deferred"
    assert _deliver(app, dispute) == "deferred"  # redelivered early: still kept

    assert _deliver(app, payloads.event("payment_intent.succeeded", intent)) == "processed"
    assert _status(dispute) is EventStatus.PROCESSED
    [transaction] = db.session.scalars(sa.select(Transaction)).all()
    flag = transaction.meta["dispute"]
    assert (flag["id"], flag["amount"], flag["needs_review"]) == (
        dispute["data"]["object"]["id"],
        "100.00",
        True,
    )
    assert _deliver(app, dispute) == "duplicate"  # and never applied twice


def test_a_refund_at_stripe_before_its_payment_is_recorded_once_the_payment_is(
    app: Flask, mentee: User, bookable_coach: User, stripe_fake: FakeStripe
) -> None:
    _, intent = make_paid_checkout(stripe_fake, mentee, make_slot(bookable_coach))
    charge_id = intent["latest_charge"]["id"]
    # Refunded in full in Stripe's dashboard, moments after the payment: Stripe reversed the
    # whole 80.00 transfer and refunded the 20.00 fee.
    made = {
        "id": "re_dashboard",
        "object": "refund",
        "amount": 10000,
        "currency": "usd",
        "status": "succeeded",
        "created": 1,
        "metadata": {},
        "payment_intent": intent["id"],
        "transfer_reversal": "trr_dashboard",
    }
    stripe_fake.refunds["re_dashboard"] = {
        **made,
        "charge": {
            "id": charge_id,
            "amount": 10000,
            "application_fee": {"amount": 2000, "amount_refunded": 2000},
            "transfer": {
                "amount": 8000,
                "reversals": {"data": [{"id": "trr_dashboard", "amount": 8000}]},
            },
        },
    }
    refunded = payloads.event(
        "charge.refunded",
        {
            "id": charge_id,
            "object": "charge",
            "payment_intent": intent["id"],
            "amount": 10000,
            "amount_refunded": 10000,
            "refunds": {"object": "list", "data": [{**made, "charge": charge_id}]},
        },
    )
    assert _deliver(app, refunded) == "deferred"

    assert _deliver(app, payloads.event("payment_intent.succeeded", intent)) == "processed"
    assert _status(refunded) is EventStatus.PROCESSED
    [transaction] = db.session.scalars(sa.select(Transaction)).all()
    [refund] = transaction.refunds
    assert (refund.stripe_refund_id, refund.amount, refund.coach_share_reversed) == (
        "re_dashboard",
        Decimal("100.00"),
        Decimal("80.00"),
    )
    assert transaction.status is TransactionStatus.REFUNDED
    assert ledger.balances_of(bookable_coach.id) == ledger.Balances(
        Decimal("0.00"), Decimal("80.00"), Decimal("-80.00")
    )
    assert ledger.verify() == []
