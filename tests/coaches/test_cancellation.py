"""Cancelling bookings: the 24-hour policy, coach cancellations, refunds made once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask import Flask
from flask.testing import FlaskClient

from portal import ledger
from portal.bookings import cancellation, hold
from portal.extensions import db
from portal.models import (
    AvailabilitySlot,
    Booking,
    CoachProfile,
    PaymentStatus,
    Refund,
    RefundStatus,
    Role,
    SessionStatus,
    Transaction,
    TransactionStatus,
    User,
)
from tests.builders import make_slot, make_user
from tests.coaches.conftest import post_form
from tests.conftest import login
from tests.stripe_fake import FakeStripe
from tests.webhooks import payloads
from tests.webhooks.payloads import event
from tests.webhooks.signing import PLATFORM_PATH, platform_secret, signed_post


def _profile(coach_id: int) -> CoachProfile:
    db.session.expire_all()
    return db.session.scalar(db.select(CoachProfile).where(CoachProfile.user_id == coach_id))


def _cancel(client: FlaskClient, booking: Booking):  # type: ignore[no-untyped-def]
    return post_form(client, f"/bookings/{booking.id}/cancel")


def _assert_fully_refunded(booking: Booking) -> Refund:
    db.session.expire_all()
    refreshed = db.session.get(Booking, booking.id)
    assert refreshed.status is SessionStatus.CANCELED
    assert refreshed.payment_status is PaymentStatus.REFUNDED
    [transaction] = db.session.scalars(db.select(Transaction)).all()
    assert transaction.status is TransactionStatus.REFUNDED
    [refund] = transaction.refunds
    assert refund.status is RefundStatus.SUCCEEDED
    assert (refund.amount, refund.platform_fee_refunded, refund.coach_share_reversed) == (
        Decimal("100.00"),
        Decimal("20.00"),
        Decimal("80.00"),
    )
    profile = _profile(booking.coach_id)
    # As on the coach's Stripe account: the reversal leaves available (below zero), and the
    # payment stays pending until Stripe makes it available.
    assert (profile.total_earnings, profile.pending_balance, profile.available_balance) == (
        Decimal("0.00"),
        Decimal("80.00"),
        Decimal("-80.00"),
    )
    assert ledger.verify() == []
    return refund


def test_a_mentee_cancelling_a_day_ahead_gets_a_full_refund(
    app: Flask,
    mentee_client: FlaskClient,
    paid_booking: Booking,
    stripe_fake: FakeStripe,
) -> None:
    response = _cancel(mentee_client, paid_booking)
    assert response.status_code == 303
    page = mentee_client.get(response.headers["Location"])
    assert "will be refunded $100.00 in full" in page.text
    refund = _assert_fully_refunded(paid_booking)
    [params] = stripe_fake.params_of("refunds.create")
    assert params["amount"] == 10000
    assert params["payment_intent"] == paid_booking.stripe_payment_intent_id
    assert stripe_fake.keys_of("refunds.create") == [
        f"refund:{refund.id}:{int(refund.created_at.timestamp())}"
    ]
    assert refund.stripe_refund_id.startswith("re_test_")
    assert [s.id for s in hold.open_slots_page(paid_booking.coach_id).rows] == [
        paid_booking.slot_id
    ]


def test_a_mentee_cancelling_within_24_hours_is_not_refunded(
    app: Flask,
    mentee: User,
    paid_booking: Booking,
    stripe_fake: FakeStripe,
) -> None:
    later = paid_booking.starts_at - timedelta(hours=23)
    outcome = cancellation.cancel_booking(paid_booking.id, mentee, now=later)
    db.session.commit()
    assert outcome.refund is None
    assert outcome.message == (
        "The booking is canceled. Nothing is refunded: the session starts in 23 hours."
    )
    db.session.expire_all()
    booking = db.session.get(Booking, paid_booking.id)
    assert (booking.status, booking.payment_status) == (SessionStatus.CANCELED, PaymentStatus.PAID)
    assert stripe_fake.count("refunds.create") == 0
    assert _profile(booking.coach_id).total_earnings == Decimal("80.00")


def test_cancelling_shows_what_comes_back_and_why_before_anything_changes(
    app: Flask,
    mentee_client: FlaskClient,
    paid_booking: Booking,
    stripe_fake: FakeStripe,
) -> None:
    booking_page = mentee_client.get(f"/bookings/{paid_booking.id}").text
    assert f'href="/bookings/{paid_booking.id}/cancel">Cancel this booking</a>' in booking_page
    preview = mentee_client.get(f"/bookings/{paid_booking.id}/cancel")
    assert preview.status_code == 200
    assert "You get $100.00 back: more than 24 hours before the start." in preview.text
    assert "Confirm: cancel the booking" in preview.text
    db.session.expire_all()
    assert db.session.get(Booking, paid_booking.id).status is SessionStatus.CONFIRMED
    assert stripe_fake.count("refunds.create") == 0
    assert _cancel(mentee_client, paid_booking).status_code == 303
    _assert_fully_refunded(paid_booking)


def test_the_preview_inside_24_hours_says_nothing_is_refunded(
    app: Flask,
    mentee: User,
    bookable_coach: User,
    paid_booking: Booking,
) -> None:
    later = paid_booking.starts_at - timedelta(hours=20, minutes=30)
    preview = cancellation.preview_cancellation(paid_booking, mentee, now=later)
    assert (preview.amount, preview.message) == (
        Decimal("0.00"),
        "Nothing is refunded: the session starts in 20 hours.",
    )
    by_coach = cancellation.preview_cancellation(paid_booking, bookable_coach, now=later)
    assert (by_coach.amount, by_coach.message) == (
        Decimal("100.00"),
        "The mentee gets $100.00 back: a coach's cancellation is always refunded in full.",
    )


def test_the_policy_is_shown_before_paying_and_on_the_booking(
    app: Flask,
    mentee_client: FlaskClient,
    paid_booking: Booking,
) -> None:
    coach_page = mentee_client.get(f"/coaches/{paid_booking.coach_id}")
    assert "at least 24 hours before the start for a full refund" in coach_page.text
    booking_page = mentee_client.get(f"/bookings/{paid_booking.id}")
    assert "for a full refund" in booking_page.text


def test_a_coach_cancelling_refunds_the_mentee_in_full_even_at_the_last_minute(
    app: Flask,
    bookable_coach: User,
    paid_booking: Booking,
    stripe_fake: FakeStripe,
) -> None:
    last_minute = paid_booking.starts_at - timedelta(minutes=5)
    outcome = cancellation.cancel_booking(paid_booking.id, bookable_coach, now=last_minute)
    db.session.commit()
    assert outcome.refund is not None
    cancellation.submit_refund(outcome.refund.id)
    db.session.commit()
    _assert_fully_refunded(paid_booking)


def test_a_coach_cancels_from_the_booking_page(
    app: Flask,
    bookable_coach: User,
    paid_booking: Booking,
    stripe_fake: FakeStripe,
) -> None:
    client = app.test_client()
    login(client, bookable_coach)
    assert "the mentee is refunded in full" in client.get(f"/bookings/{paid_booking.id}").text
    assert _cancel(client, paid_booking).status_code == 303
    _assert_fully_refunded(paid_booking)


def test_double_clicking_cancel_makes_one_stripe_refund(
    app: Flask,
    mentee_client: FlaskClient,
    paid_booking: Booking,
    stripe_fake: FakeStripe,
) -> None:
    assert _cancel(mentee_client, paid_booking).status_code == 303
    assert _cancel(mentee_client, paid_booking).status_code == 303
    assert stripe_fake.count("refunds.create") == 1
    _assert_fully_refunded(paid_booking)


def test_a_refund_stripe_could_not_take_stays_pending_and_the_retry_reuses_its_key(
    app: Flask,
    mentee_client: FlaskClient,
    paid_booking: Booking,
    stripe_fake: FakeStripe,
) -> None:
    stripe_fake.down = True
    response = _cancel(mentee_client, paid_booking)
    page = mentee_client.get(response.headers["Location"])
    assert "press Cancel again to retry the refund" in page.text
    assert "Retry the refund" in page.text
    [refund] = db.session.scalars(db.select(Refund)).all()
    assert refund.status is RefundStatus.PENDING
    assert _profile(paid_booking.coach_id).total_earnings == Decimal("80.00")
    stripe_fake.down = False
    assert _cancel(mentee_client, paid_booking).status_code == 303
    _assert_fully_refunded(paid_booking)
    assert db.session.query(Refund).count() == 1


def test_charge_refunded_webhook_changes_nothing_when_the_refund_is_already_applied(
    app: Flask,
    mentee_client: FlaskClient,
    client: FlaskClient,
    paid_booking: Booking,
    stripe_fake: FakeStripe,
) -> None:
    _cancel(mentee_client, paid_booking)
    refund = _assert_fully_refunded(paid_booking)
    charge = {
        "id": "ch_test_x",
        "object": "charge",
        "amount": 10000,
        "amount_refunded": 10000,
        "payment_intent": paid_booking.stripe_payment_intent_id,
        "refunded": True,
    }
    for _ in range(2):
        response = signed_post(
            client, PLATFORM_PATH, event("charge.refunded", charge), platform_secret(client)
        )
        assert response.status_code == 200
    assert _assert_fully_refunded(paid_booking).id == refund.id


def test_charge_refunded_webhook_applies_a_refund_the_portal_had_not_finished(
    app: Flask,
    mentee: User,
    client: FlaskClient,
    paid_booking: Booking,
    stripe_fake: FakeStripe,
) -> None:
    outcome = cancellation.cancel_booking(paid_booking.id, mentee)
    db.session.commit()
    # Stripe made the refund, but the portal stopped before recording it.
    stripe_fake.create_refund(outcome.refund, payment_intent_id="pi")
    db.session.rollback()
    charge = {
        "id": "ch_test_x",
        "object": "charge",
        "amount": 10000,
        "amount_refunded": 10000,
        "payment_intent": paid_booking.stripe_payment_intent_id,
        "refunded": True,
    }
    response = signed_post(
        client, PLATFORM_PATH, event("charge.refunded", charge), platform_secret(client)
    )
    assert response.status_code == 200
    _assert_fully_refunded(paid_booking)


def test_an_unpaid_booking_is_released_when_canceled(
    app: Flask,
    mentee: User,
    slot,
    stripe_fake: FakeStripe,
    mentee_client: FlaskClient,
) -> None:
    from tests.coaches.conftest import book_slot, only_booking

    book_slot(mentee_client, slot.id)
    booking = only_booking()
    assert _cancel(mentee_client, booking).status_code == 303
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status is SessionStatus.CANCELED
    assert stripe_fake.count("checkout.sessions.expire") == 1
    assert stripe_fake.count("refunds.create") == 0


def test_nobody_else_can_cancel_a_booking(
    app: Flask,
    paid_booking: Booking,
    stripe_fake: FakeStripe,
) -> None:
    for role in (Role.MENTEE, Role.COACH):
        client = app.test_client()
        login(client, make_user(role, password="correct horse battery"))
        assert _cancel(client, paid_booking).status_code == 404
        assert client.get(f"/bookings/{paid_booking.id}").status_code == 404
    db.session.expire_all()
    assert db.session.get(Booking, paid_booking.id).status is SessionStatus.CONFIRMED


def test_a_session_that_has_started_cannot_be_canceled(
    app: Flask,
    mentee: User,
    paid_booking: Booking,
) -> None:
    import pytest

    with pytest.raises(cancellation.CancellationError):
        cancellation.cancel_booking(
            paid_booking.id, mentee, now=paid_booking.starts_at + timedelta(minutes=1)
        )


def test_cancelling_a_booking_an_admin_refunded_in_full_cancels_it_with_nothing_to_refund(
    app: Flask,
    mentee_client: FlaskClient,
    paid_booking: Booking,
    stripe_fake: FakeStripe,
) -> None:
    admin = make_user(Role.ADMIN)
    transaction = db.session.scalar(db.select(Transaction))
    refund = cancellation.request_refund(transaction, requested_by=admin, reason="Admin refund")
    db.session.commit()
    cancellation.submit_refund(refund.id)
    db.session.commit()
    response = _cancel(mentee_client, paid_booking)
    assert response.status_code == 303
    page = mentee_client.get(response.headers["Location"]).text
    assert "Nothing is refunded: the payment was already refunded in full." in page
    db.session.expire_all()
    booking = db.session.get(Booking, paid_booking.id)
    assert (booking.status, booking.payment_status) == (
        SessionStatus.CANCELED,
        PaymentStatus.REFUNDED,
    )
    assert len(stripe_fake.params_of("refunds.create")) == 1
    assert [r.amount for r in transaction.refunds] == [Decimal("100.00")]
    assert ledger.verify() == []


def test_a_disputed_booking_cannot_be_canceled_and_its_page_says_why(
    app: Flask,
    client: FlaskClient,
    mentee_client: FlaskClient,
    paid_booking: Booking,
    stripe_fake: FakeStripe,
) -> None:
    intent = paid_booking.stripe_payment_intent_id
    dispute = event("charge.dispute.created", payloads.dispute(intent, 10000))
    assert signed_post(client, PLATFORM_PATH, dispute, platform_secret(client)).status_code == 200
    page = mentee_client.get(f"/bookings/{paid_booking.id}").text
    assert "(Stripe: charge_disputed)" in page and "Cancel this booking" not in page
    response = _cancel(mentee_client, paid_booking)
    assert response.status_code == 303
    assert "charge_disputed" in mentee_client.get(response.headers["Location"]).text
    db.session.expire_all()
    booking = db.session.get(Booking, paid_booking.id)
    assert (booking.status, booking.payment_status) == (
        SessionStatus.CONFIRMED,
        PaymentStatus.PAID,
    )
    assert stripe_fake.params_of("refunds.create") == []
    assert db.session.scalars(db.select(Refund)).all() == []


def test_a_time_less_than_24_hours_away_is_marked_not_refundable_beside_its_pay_button(
    app: Flask,
    mentee_client: FlaskClient,
    bookable_coach: User,
    slot: AvailabilitySlot,
) -> None:
    soon = make_slot(bookable_coach, hours_from_now=20)
    page = mentee_client.get(f"/coaches/{bookable_coach.id}").text
    warning = f'id="non-refundable-{soon.id}">Not refundable: starts within 24 hours'
    assert warning in page
    assert f'aria-describedby="non-refundable-{soon.id} refund-policy"' in page
    assert f"non-refundable-{slot.id}" not in page  # three days away: refundable as usual
    assert page.count("Not refundable:") == 1
    directory = mentee_client.get("/").text
    assert directory.count('<span class="badge badge-warn">Not refundable</span>') == 1
