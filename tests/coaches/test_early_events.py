"""RELIABILITY 39: an event that arrives before the object it is about is kept, and applied
once when that object is recorded; its redeliveries neither lose it nor apply it twice."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from portal.coaches import booking as booking_service
from portal.extensions import db
from portal.models import EventStatus, StripeEvent, Transaction, User
from tests.builders import make_slot
from tests.coaches.conftest import FakeStripe
from tests.webhooks import payloads
from tests.webhooks.signing import PLATFORM_PATH, platform_secret, signed_post


def _paid_at_stripe(mentee: User, coach: User, stripe_fake: FakeStripe) -> dict:
    """A booking paid at Stripe whose payment the portal has not heard of yet."""
    booking = booking_service.hold_slot(mentee, make_slot(coach, hours_from_now=48).id)
    db.session.commit()
    booking_service.start_checkout(booking, success_url="http://x/ok", cancel_url="http://x/no")
    db.session.commit()
    return stripe_fake.pay(booking.stripe_checkout_session_id)["payment_intent"]


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
    intent = _paid_at_stripe(mentee, bookable_coach, stripe_fake)
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
