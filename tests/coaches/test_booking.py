"""Holding a slot, pricing it and starting Checkout: the booking rules one by one."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.bookings import fulfilment, hold, pricing
from portal.extensions import db
from portal.models import (
    AvailabilitySlot,
    Booking,
    PaymentStatus,
    Role,
    SessionStatus,
    SubscriptionStatus,
    User,
    utcnow,
)
from portal.money import FeeSplit
from portal.stripe_gateway import checkout as checkout_gateway
from tests.builders import make_connected_account, make_membership, make_slot, make_user
from tests.coaches.conftest import book_slot, only_booking, post_form
from tests.conftest import login
from tests.stripe_fake import FakeStripe
from tests.webhooks.payloads import event
from tests.webhooks.signing import PLATFORM_PATH, platform_secret, signed_post


def test_the_quote_splits_the_coachs_price_into_fee_and_share_exactly(
    app: Flask, bookable_coach: User, mentee: User
) -> None:
    profile = bookable_coach.coach_profile
    assert pricing.quote_for(profile, mentee).split == FeeSplit(
        Decimal("100.00"), Decimal("20.00"), Decimal("80.00")
    )
    profile.session_price = Decimal("33.33")
    profile.platform_fee_percentage = Decimal("17.50")
    split = pricing.quote_for(profile, mentee).split
    assert split == FeeSplit(Decimal("33.33"), Decimal("5.83"), Decimal("27.50"))


def test_holding_a_slot_makes_a_pending_booking_with_exact_amounts(
    app: Flask, mentee: User, slot: AvailabilitySlot
) -> None:
    booking = hold.hold_slot(mentee, slot.id)
    db.session.commit()
    assert booking.status is SessionStatus.PENDING_PAYMENT
    assert booking.payment_status is PaymentStatus.PENDING
    assert (booking.price_amount, booking.platform_fee_amount, booking.coach_share) == (
        Decimal("100.00"),
        Decimal("20.00"),
        Decimal("80.00"),
    )
    assert booking.starts_at == slot.starts_at
    assert booking.currency == "USD"


def test_a_held_slot_cannot_be_held_by_a_second_booking(
    app: Flask, mentee: User, slot: AvailabilitySlot
) -> None:
    other = make_user(Role.MENTEE)
    hold.hold_slot(mentee, slot.id)
    db.session.commit()
    with pytest.raises(hold.SlotTaken) as caught:
        hold.hold_slot(other, slot.id)
    assert caught.value.message == "That time was just taken — pick another."
    db.session.rollback()
    assert db.session.query(Booking).count() == 1


def test_a_released_booking_frees_its_slot_for_the_next_mentee(
    app: Flask, mentee: User, slot: AvailabilitySlot
) -> None:
    first = hold.hold_slot(mentee, slot.id)
    hold.release_booking(first, PaymentStatus.CANCELED)
    db.session.commit()
    second = hold.hold_slot(make_user(Role.MENTEE), slot.id)
    db.session.commit()
    assert second.status is SessionStatus.PENDING_PAYMENT
    assert hold.open_slots_page(slot.coach_id).rows == []


@pytest.mark.parametrize("charges_enabled", [False, None], ids=["not-enabled", "no-account"])
def test_a_coach_who_cannot_take_charges_is_not_bookable(
    app: Flask, mentee: User, charges_enabled: bool | None
) -> None:
    coach = make_user(Role.COACH)
    if charges_enabled is not None:
        make_connected_account(coach, charges_enabled=charges_enabled)
    slot = make_slot(coach)
    with pytest.raises(hold.CoachNotBookable):
        hold.hold_slot(mentee, slot.id)
    assert db.session.query(Booking).count() == 0


def test_a_price_below_stripes_minimum_is_refused_and_nothing_is_made(
    app: Flask, mentee: User, bookable_coach: User, slot: AvailabilitySlot
) -> None:
    bookable_coach.coach_profile.session_price = Decimal("0.30")
    db.session.commit()
    with pytest.raises(hold.PriceNotChargeable) as caught:
        hold.hold_slot(mentee, slot.id)
    assert "minimum charge of $0.50" in caught.value.message
    db.session.rollback()
    assert db.session.query(Booking).count() == 0


def test_a_slot_in_the_past_cannot_be_booked(
    app: Flask, mentee: User, bookable_coach: User
) -> None:
    slot = make_slot(bookable_coach, hours_from_now=-2)
    with pytest.raises(hold.SlotUnavailable):
        hold.hold_slot(mentee, slot.id)


def test_open_slots_leave_out_held_and_past_times(
    app: Flask, mentee: User, bookable_coach: User
) -> None:
    past = make_slot(bookable_coach, hours_from_now=-5)
    held = make_slot(bookable_coach, hours_from_now=30)
    free = make_slot(bookable_coach, hours_from_now=40)
    hold.hold_slot(mentee, held.id)
    db.session.commit()
    assert [s.id for s in hold.open_slots_page(bookable_coach.id).rows] == [free.id]
    assert past.id not in [s.id for s in hold.open_slots_page(bookable_coach.id).rows]


# --- starting Checkout through the view ----------------------------------------------------


def test_booking_sends_the_mentee_to_a_destination_charge_checkout(
    app: Flask,
    mentee_client: FlaskClient,
    mentee: User,
    slot: AvailabilitySlot,
    stripe_fake: FakeStripe,
    bookable_coach: User,
) -> None:
    response = book_slot(mentee_client, slot.id)
    booking = only_booking()
    assert response.status_code == 303
    assert (
        response.headers["Location"]
        == stripe_fake.sessions[booking.stripe_checkout_session_id]["url"]
    )
    [params] = stripe_fake.params_of("checkout.sessions.create")
    assert params["mode"] == "payment"
    assert params["customer"] == f"cus_test{mentee.id}"
    assert params["client_reference_id"] == str(booking.id)
    assert params["metadata"] == {"booking_id": str(booking.id)}
    assert params["payment_intent_data"] == {
        "application_fee_amount": 2000,
        "transfer_data": {"destination": bookable_coach.stripe_connect_account_id},
        "metadata": {"booking_id": str(booking.id)},
    }
    [item] = params["line_items"]
    assert item["quantity"] == 1
    assert item["price_data"]["currency"] == "usd"
    assert item["price_data"]["unit_amount"] == 10000
    assert item["price_data"]["product_data"]["name"].startswith("Session with Grace Hopper on ")
    assert params["success_url"].endswith("/bookings/return?session_id={CHECKOUT_SESSION_ID}")
    assert urlsplit(params["success_url"]).scheme == "http"
    assert urlsplit(params["cancel_url"]).netloc
    lifetime = params["expires_at"] - int(utcnow().timestamp())
    assert 30 * 60 <= lifetime <= 31 * 60
    assert stripe_fake.keys_of("checkout.sessions.create") == [
        f"booking-checkout:{booking.id}:{int(booking.created_at.timestamp())}"
    ]
    assert booking.status is SessionStatus.PENDING_PAYMENT


def test_checkout_parameters_are_the_same_on_a_retry_so_stripe_replays_the_session(
    app: Flask, mentee: User, slot: AvailabilitySlot
) -> None:
    booking = hold.hold_slot(mentee, slot.id)
    db.session.commit()
    details = dict(
        customer_id="cus_1",
        destination_account="acct_1",
        product_name="x",
        success_url="https://portal.test/ok",
        cancel_url="https://portal.test/no",
    )
    first = checkout_gateway.booking_session_params(booking, **details)
    second = checkout_gateway.booking_session_params(booking, **details)
    assert first == second


def test_the_mentees_stripe_customer_is_made_once(
    app: Flask,
    mentee_client: FlaskClient,
    mentee: User,
    bookable_coach: User,
    stripe_fake: FakeStripe,
) -> None:
    for hours in (50, 60):
        slot = make_slot(bookable_coach, hours_from_now=hours)
        assert book_slot(mentee_client, slot.id).status_code == 303
    assert stripe_fake.count("customers.create") == 1
    db.session.expire_all()
    assert db.session.get(User, mentee.id).stripe_customer_id == f"cus_test{mentee.id}"


def test_stripe_down_cancels_the_booking_frees_the_slot_and_says_so(
    app: Flask, mentee_client: FlaskClient, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    stripe_fake.down = True
    response = book_slot(mentee_client, slot.id)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/coaches/{slot.coach_id}"
    booking = only_booking()
    assert booking.status is SessionStatus.CANCELED
    assert booking.stripe_checkout_session_id is None
    assert hold.open_slots_page(slot.coach_id).rows[0].id == slot.id
    page = mentee_client.get(response.headers["Location"])
    assert "Nothing was charged" in page.text
    assert "the time is free again" in page.text


def test_a_slot_taken_meanwhile_tells_the_second_mentee_to_pick_another(
    app: Flask, mentee_client: FlaskClient, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    hold.hold_slot(make_user(Role.MENTEE), slot.id)
    db.session.commit()
    response = book_slot(mentee_client, slot.id)
    assert response.status_code == 303
    page = mentee_client.get(response.headers["Location"])
    assert "That time was just taken — pick another." in page.text
    assert stripe_fake.count("checkout.sessions.create") == 0


def test_booking_an_unbookable_coach_through_the_view_explains_why(
    app: Flask, mentee_client: FlaskClient, stripe_fake: FakeStripe
) -> None:
    coach = make_user(Role.COACH)
    make_connected_account(coach, charges_enabled=False)
    slot = make_slot(coach)
    response = book_slot(mentee_client, slot.id)
    page = mentee_client.get(response.headers["Location"])
    assert "has not finished setting up payments" in page.text
    assert db.session.query(Booking).count() == 0


def test_only_mentees_can_book(app: Flask, client: FlaskClient, coach: User, slot) -> None:
    login(client, coach)
    assert post_form(client, f"/slots/{slot.id}/book").status_code == 403


def test_refund_deadline_is_24_hours_before_the_start(
    app: Flask, mentee: User, slot: AvailabilitySlot
) -> None:
    booking = hold.hold_slot(mentee, slot.id)
    assert booking.starts_at - hold.refund_deadline(booking) == timedelta(hours=24)


def test_a_members_booking_keeps_its_quote_and_stripe_is_told_only_its_id(
    app: Flask,
    mentee: User,
    mentee_client: FlaskClient,
    slot: AvailabilitySlot,
    stripe_fake: FakeStripe,
) -> None:
    make_membership(mentee, SubscriptionStatus.ACTIVE)
    db.session.commit()
    assert book_slot(mentee_client, slot.id).status_code in (200, 303)
    booking = only_booking()
    assert (
        booking.list_price_amount,
        booking.discount_amount,
        booking.discount_percentage,
        booking.price_amount,
        booking.platform_fee_amount,
        booking.coach_share,
    ) == tuple(Decimal(x) for x in ("100.00", "10.00", "10.00", "90.00", "10.00", "80.00"))
    [params] = stripe_fake.params_of("checkout.sessions.create")
    assert params["metadata"] == {"booking_id": str(booking.id)}
    assert params["payment_intent_data"]["metadata"] == {"booking_id": str(booking.id)}
    # The membership lapses before the payment lands: the booking's quote still decides.
    mentee.platform_subscription.status = SubscriptionStatus.CANCELED
    db.session.commit()
    checkout = stripe_fake.pay(booking.stripe_checkout_session_id)
    fulfilment.fulfil_checkout(checkout)
    db.session.commit()
    transaction = fulfilment.payment_transaction(booking)
    assert transaction is not None
    assert (transaction.amount, transaction.platform_fee, transaction.coach_share) == (
        Decimal("90.00"),
        Decimal("10.00"),
        Decimal("80.00"),
    )
    assert {k: transaction.meta[k] for k in ("list_price", "member_discount")} == {
        "list_price": "100.00",
        "member_discount": "10.00",
    }
    assert transaction.meta["member_discount_percentage"] == "10"


def _unpaid_holds(mentee: User) -> list[Booking]:
    db.session.expire_all()
    query = db.select(Booking).where(
        Booking.mentee_id == mentee.id,
        Booking.status == SessionStatus.PENDING_PAYMENT,
    )
    return list(db.session.scalars(query.order_by(Booking.id)))


def test_a_mentee_holds_at_most_two_unpaid_times_until_one_is_left_or_expires(
    app: Flask,
    client: FlaskClient,
    mentee: User,
    mentee_client: FlaskClient,
    bookable_coach: User,
    stripe_fake: FakeStripe,
) -> None:
    slots = [make_slot(bookable_coach, hours_from_now=48 + 2 * n) for n in range(4)]
    for slot in slots[:2]:
        assert book_slot(mentee_client, slot.id).headers["Location"].startswith("https://")
    refused = book_slot(mentee_client, slots[2].id)
    assert refused.headers["Location"] == f"/coaches/{bookable_coach.id}"
    assert (
        "You already have 2 bookings waiting for payment"
        in mentee_client.get(refused.headers["Location"]).text
    )
    first, second = _unpaid_holds(mentee)
    assert [first.slot_id, second.slot_id] == [slots[0].id, slots[1].id]
    # Leaving the first Checkout (Stripe's cancel link) releases its hold at once.
    [cancel_url, _] = [p["cancel_url"] for p in stripe_fake.params_of("checkout.sessions.create")]
    left = urlsplit(cancel_url)
    assert mentee_client.get(f"{left.path}?{left.query}").status_code == 303
    assert book_slot(mentee_client, slots[2].id).headers["Location"].startswith("https://")
    # The second Checkout expires at Stripe: its webhook releases that hold too.
    expired = {**stripe_fake.event_object(second.stripe_checkout_session_id), "status": "expired"}
    webhook = event("checkout.session.expired", expired)
    assert signed_post(client, PLATFORM_PATH, webhook, platform_secret(client)).status_code == 200
    assert book_slot(mentee_client, slots[3].id).headers["Location"].startswith("https://")
    assert [b.slot_id for b in _unpaid_holds(mentee)] == [slots[2].id, slots[3].id]


def test_a_coach_at_19_99_with_a_20_percent_fee_is_booked_and_paid_on_either_database(
    app: Flask, mentee_client: FlaskClient, stripe_fake: FakeStripe
) -> None:
    # 4.00 + 15.99 is not 19.99 in floating point, which is how SQLite adds NUMERIC values.
    coach = make_user(Role.COACH, password="x" * 12, session_price=Decimal("19.99"))
    make_connected_account(coach)
    slot = make_slot(coach, hours_from_now=72)
    assert book_slot(mentee_client, slot.id).status_code == 303
    booking = only_booking()
    assert (booking.platform_fee_amount, booking.coach_share) == (
        Decimal("4.00"),
        Decimal("15.99"),
    )
    stripe_fake.pay(booking.stripe_checkout_session_id)
    session_id = booking.stripe_checkout_session_id
    returned = mentee_client.get(f"/bookings/return?session_id={session_id}")
    assert returned.status_code == 303
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).payment_status is PaymentStatus.PAID
