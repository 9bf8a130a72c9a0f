"""Holds nobody paid for are released by the schedule, without Stripe's expiry event: the slot is
bookable again; a Checkout paid meanwhile is fulfilled instead; a held Checkout still open is
left alone. Stripe is faked at the gateway (`tests.coaches.conftest.FakeStripe`)."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from portal.bookings.expired_holds import release_expired_holds
from portal.extensions import db
from portal.models import AvailabilitySlot, PaymentStatus, SessionStatus, utcnow
from portal.stripe_gateway.checkout import CHECKOUT_LIFETIME
from tests.coaches.conftest import FakeStripe, book_slot, only_booking

AFTER_EXPIRY = CHECKOUT_LIFETIME + timedelta(minutes=1)


def test_a_hold_whose_checkout_expired_is_released_and_its_slot_bookable_again(
    app: Flask, mentee_client: FlaskClient, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    assert book_slot(mentee_client, slot.id).status_code == 303
    held = only_booking()
    assert release_expired_holds().summary() == "0 hold(s) released, 0 found paid, 0 failed."

    outcome = release_expired_holds(utcnow() + AFTER_EXPIRY)
    assert (outcome.released, outcome.paid, outcome.failed) == (1, 0, 0)
    booking = only_booking()
    assert (booking.status, booking.payment_status) == (
        SessionStatus.CANCELED,
        PaymentStatus.CANCELED,
    )
    assert stripe_fake.sessions[held.stripe_checkout_session_id]["status"] == "expired"
    assert release_expired_holds(utcnow() + AFTER_EXPIRY).released == 0  # nothing left to do
    assert book_slot(mentee_client, slot.id).status_code == 303  # the slot is open again


def test_a_checkout_paid_before_the_release_is_fulfilled_not_released(
    app: Flask, mentee_client: FlaskClient, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    book_slot(mentee_client, slot.id)
    stripe_fake.pay(only_booking().stripe_checkout_session_id)
    outcome = release_expired_holds(utcnow() + AFTER_EXPIRY)
    assert (outcome.released, outcome.paid) == (0, 1)
    booking = only_booking()
    assert (booking.status, booking.payment_status) == (
        SessionStatus.CONFIRMED,
        PaymentStatus.PAID,
    )


def test_when_stripe_cannot_be_reached_the_hold_stays_and_the_failure_is_counted(
    app: Flask, mentee_client: FlaskClient, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    book_slot(mentee_client, slot.id)
    stripe_fake.down = True
    outcome = release_expired_holds(utcnow() + AFTER_EXPIRY)
    assert (outcome.released, outcome.failed) == (0, 1)
    assert only_booking().status is SessionStatus.PENDING_PAYMENT
    db.session.rollback()
