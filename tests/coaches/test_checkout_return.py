"""Coming back from Checkout, fulfilment from both sides, and the webhook handlers."""

from __future__ import annotations

from decimal import Decimal
from time import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal import ledger
from portal.bookings import fulfilment, hold
from portal.extensions import db
from portal.models import (
    AvailabilitySlot,
    Booking,
    CoachProfile,
    LedgerEntry,
    PaymentStatus,
    Role,
    SessionStatus,
    Transaction,
    TransactionStatus,
    TransactionType,
    User,
)
from tests.builders import make_user
from tests.coaches.conftest import Checkout, book_slot
from tests.conftest import PASSWORD, login, statements_run
from tests.mailbox import messages
from tests.stripe_fake import FakeStripe
from tests.webhooks.payloads import balance, event
from tests.webhooks.signing import (
    CONNECT_PATH,
    connect_secret,
    signed_post,
)


def _reread(booking_id: int) -> Booking:
    """The booking as the database holds it now, not as this session last saw it."""
    db.session.expire_all()
    return db.session.get(Booking, booking_id)


def _assert_paid_once(booking_id: int, coach_id: int) -> Transaction:
    booking = _reread(booking_id)
    assert booking.status is SessionStatus.CONFIRMED
    assert booking.payment_status is PaymentStatus.PAID
    [transaction] = db.session.scalars(db.select(Transaction)).all()
    assert db.session.query(LedgerEntry).count() == 1
    profile = db.session.scalar(db.select(CoachProfile).where(CoachProfile.user_id == coach_id))
    assert profile.pending_balance == profile.total_earnings == Decimal("80.00")
    assert ledger.verify() == []
    return transaction


def test_return_page_fulfils_a_paid_checkout_and_shows_the_confirmed_booking(
    checkout: Checkout, mentee: User, slot: AvailabilitySlot
) -> None:
    booking = checkout.start()
    checkout.stripe.pay(booking.stripe_checkout_session_id)
    response = checkout.come_back(booking)
    assert response.status_code == 303
    page = checkout.mentee.get(response.headers["Location"])
    assert "Your session is booked and paid." in page.text
    assert "every 2s" not in page.text
    transaction = _assert_paid_once(booking.id, slot.coach_id)
    assert transaction.type is TransactionType.SESSION_PAYMENT
    assert transaction.status is TransactionStatus.COMPLETED
    assert (transaction.amount, transaction.platform_fee, transaction.coach_share) == (
        Decimal("100.00"),
        Decimal("20.00"),
        Decimal("80.00"),
    )
    assert transaction.payer_id == mentee.id
    assert transaction.coach_id == slot.coach_id
    assert transaction.session_id == booking.id
    assert transaction.stripe_payment_intent_id.startswith("pi_test_")
    assert transaction.stripe_transfer_id.startswith("tr_test_")
    assert _reread(booking.id).stripe_payment_intent_id == (transaction.stripe_payment_intent_id)


def test_another_mentees_return_url_is_not_found_and_fulfils_nothing(
    app: Flask, checkout: Checkout, stripe_fake: FakeStripe
) -> None:
    booking = checkout.start()
    stripe_fake.pay(booking.stripe_checkout_session_id)
    intruder = app.test_client()
    login(intruder, make_user(Role.MENTEE, password="correct horse battery"))
    assert checkout.come_back(booking, intruder).status_code == 404
    assert intruder.get(f"/bookings/{booking.id}").status_code == 404
    assert intruder.get(f"/bookings/{booking.id}/status").status_code == 404
    assert intruder.get("/bookings/return?session_id=cs_test_unknown").status_code == 404
    assert stripe_fake.count("checkout.sessions.retrieve") == 0
    assert db.session.query(Transaction).count() == 0


def test_return_page_and_webhook_fulfil_once_whichever_comes_first(
    checkout: Checkout, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    booking = checkout.start()
    stripe_fake.pay(booking.stripe_checkout_session_id)
    completed = stripe_fake.event_object(booking.stripe_checkout_session_id)
    assert checkout.tell("checkout.session.completed", completed).status_code == 200
    assert checkout.come_back(booking).status_code == 303
    intent = stripe_fake.sessions[booking.stripe_checkout_session_id]["payment_intent"]
    succeeded = {**intent, "latest_charge": "ch_x"}
    assert checkout.tell("payment_intent.succeeded", succeeded).status_code == 200
    # a second, different event id about the same payment
    assert checkout.tell("checkout.session.completed", completed).status_code == 200
    _assert_paid_once(booking.id, slot.coach_id)


def test_payment_intent_succeeded_alone_confirms_a_booking_awaiting_payment_once(
    checkout: Checkout, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    booking = checkout.start()
    intent = stripe_fake.pay(booking.stripe_checkout_session_id)["payment_intent"]
    with statements_run() as statements:
        response = checkout.tell("payment_intent.succeeded", intent)
    assert (response.status_code, response.text) == (200, "processed")
    # one statement each: the event's row, the booking confirmed under its row lock by one
    # guarded UPDATE (not read first), its transaction, the ledger entry (taking the coach's
    # lock), the coach's balances (returning when Stripe last released the coach's funds, read
    # under that lock), and the two messages' rows; after the commit, each message claimed,
    # read, rendered from its reader and the booking with its people (the mentee's with the
    # receipt its transaction keeps) and marked sent (the test's queue runs at once, in either
    # order), and one look for events waiting for this payment
    claim = ["UPDATE outbox", "SELECT outbox.id, outbox.kind,", "SELECT users.id, users.email,"]
    rendered = [*claim, "SELECT coaching_sessions.id, coaching_sessions.coach_id,"]
    mentee = [*rendered, "SELECT transactions.metadata FROM", "UPDATE outbox"]
    coach = [*rendered, "UPDATE outbox"]
    run = [" ".join(sql.split()[:3]).removesuffix(" SET") for sql in statements]
    assert run[:6] == [
        "INSERT INTO stripe_events",
        "UPDATE coaching_sessions",
        "INSERT INTO transactions",
        "INSERT INTO ledger_entries",
        "UPDATE coach_profiles",
        "INSERT INTO outbox",
    ]
    assert "RETURNING (SELECT stripe_connected_accounts.stripe_account_id" in statements[4]
    assert run[6:-1] in ([*mentee, *coach], [*coach, *mentee])
    assert run[-1] == "SELECT stripe_events.payload FROM"
    transaction = _assert_paid_once(booking.id, slot.coach_id)
    assert (transaction.stripe_payment_intent_id, transaction.stripe_transfer_id) == (
        intent["id"],
        intent["latest_charge"]["transfer"],
    )
    assert transaction.meta["receipt_url"] == intent["latest_charge"]["receipt_url"]
    assert (transaction.amount, transaction.coach_share) == (Decimal("100.00"), Decimal("80.00"))
    # the same payment in another event, then the Checkout's own event and the return page
    assert checkout.tell("payment_intent.succeeded", intent).text == "processed"
    assert checkout.tell_of_checkout("checkout.session.completed", booking).status_code == 200
    assert checkout.come_back(booking).status_code == 303
    _assert_paid_once(booking.id, slot.coach_id)


def test_fulfilment_keeps_a_change_its_caller_made_to_the_booking_and_had_not_flushed(
    checkout: Checkout, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    booking = checkout.start()
    paid = stripe_fake.pay(booking.stripe_checkout_session_id)
    held = db.session.get(Booking, booking.id)
    held.duration_minutes = 90  # the caller's work, pending in the same unit of work
    # Whether or not the session would flush it on its own before the next statement: the
    # booking's confirmation is a statement of its own, and a copy of the booking the session
    # holds is then read again.
    with db.session.no_autoflush:
        assert fulfilment.fulfil_checkout(paid) == booking.id
    db.session.commit()
    assert _reread(booking.id).duration_minutes == 90
    _assert_paid_once(booking.id, slot.coach_id)


def test_a_payment_recorded_after_stripe_released_it_is_available_at_once(
    checkout: Checkout, client: FlaskClient, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    # The mentee never comes back from Checkout and the payment's events are late: Stripe
    # releases the payment and its `balance.available` arrives first, when the portal holds
    # nothing to release. No later event need come, so recording the payment catches up.
    booking = checkout.start()
    intent = stripe_fake.pay(booking.stripe_checkout_session_id)["payment_intent"]
    account = db.session.get(User, slot.coach_id).stripe_connect_account_id
    stripe_fake.release(account, intent["latest_charge"]["transfer"])
    # (a release comes days after the booking; here within its second, which `created` drops)
    released = event("balance.available", balance(0), account=account, created=int(time()) + 1)
    assert signed_post(client, CONNECT_PATH, released, connect_secret(client)).text == "processed"
    assert stripe_fake.count("balance_transactions.list") == 0  # nothing held: nothing asked

    # the Checkout's own event names the PaymentIntent by id only: no transfer
    assert checkout.tell_of_checkout("checkout.session.completed", booking).status_code == 200
    db.session.expire_all()
    [transaction] = db.session.scalars(db.select(Transaction)).all()
    assert transaction.stripe_transfer_id == intent["latest_charge"]["transfer"]  # asked, kept
    assert ledger.balances_of(slot.coach_id) == ledger.Balances(
        Decimal("80.00"), Decimal("0.00"), Decimal("80.00")
    )
    assert ledger.verify() == []


def test_an_unpaid_completed_checkout_fulfils_nothing_until_the_async_payment_succeeds(
    checkout: Checkout, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    booking = checkout.start()
    stripe_fake.pay(booking.stripe_checkout_session_id, payment_status="unpaid")
    response = checkout.come_back(booking)
    page = checkout.mentee.get(response.headers["Location"])
    assert 'hx-trigger="every 2s"' in page.text
    assert "being confirmed" in page.text
    held = _reread(booking.id)
    assert held.payment_status is PaymentStatus.PROCESSING
    assert held.status is SessionStatus.PENDING_PAYMENT
    assert db.session.query(Transaction).count() == 0

    stripe_fake.sessions[booking.stripe_checkout_session_id]["payment_status"] = "paid"
    succeeded = checkout.tell_of_checkout("checkout.session.async_payment_succeeded", booking)
    assert succeeded.status_code == 200
    _assert_paid_once(booking.id, slot.coach_id)
    fragment = checkout.mentee.get(f"/bookings/{booking.id}/status", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert "every 2s" not in fragment.text
    assert "booked and paid" in fragment.text


def test_a_setup_mode_checkout_books_nothing(app: Flask, slot: AvailabilitySlot) -> None:
    assert (
        fulfilment.fulfil_checkout(
            {
                "id": "cs_setup",
                "mode": "setup",
                "status": "complete",
                "payment_status": "no_payment_required",
                "metadata": {},
            }
        )
        is None
    )
    assert db.session.query(Transaction).count() == 0


def test_expired_checkout_releases_the_slot(
    checkout: Checkout, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    booking = checkout.start()
    stripe_fake.expire_session(booking.stripe_checkout_session_id)
    assert checkout.tell_of_checkout("checkout.session.expired", booking).status_code == 200
    released = _reread(booking.id)
    assert (released.status, released.payment_status) == (
        SessionStatus.CANCELED,
        PaymentStatus.CANCELED,
    )
    assert [s.id for s in hold.open_slots_page(slot.coach_id).rows] == [slot.id]


def test_a_declined_card_marks_the_payment_failed_and_expiry_then_frees_the_slot(
    checkout: Checkout, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    booking = checkout.start()
    failed = {
        "id": "pi_declined",
        "object": "payment_intent",
        "status": "requires_payment_method",
        "metadata": {"booking_id": str(booking.id)},
        "last_payment_error": {"code": "card_declined", "message": "Your card was declined."},
    }
    assert checkout.tell("payment_intent.payment_failed", failed).status_code == 200
    page = checkout.mentee.get(f"/bookings/{booking.id}")
    assert "Your card was declined" in page.text
    assert hold.open_slots_page(slot.coach_id).rows == []  # still open at Stripe: still held
    stripe_fake.expire_session(booking.stripe_checkout_session_id)
    assert checkout.tell_of_checkout("checkout.session.expired", booking).status_code == 200
    released = _reread(booking.id)
    assert (released.status, released.payment_status) == (
        SessionStatus.CANCELED,
        PaymentStatus.FAILED,
    )
    assert "The payment failed" in checkout.mentee.get(f"/bookings/{booking.id}").text
    assert [s.id for s in hold.open_slots_page(slot.coach_id).rows] == [slot.id]


def test_leaving_checkout_expires_it_releases_the_slot_and_says_so(
    checkout: Checkout, mentee_client: FlaskClient, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    booking = checkout.start()
    cancel_link = _cancel_link(stripe_fake, booking)
    response = mentee_client.get(cancel_link)
    assert response.status_code == 303
    page = mentee_client.get(response.headers["Location"])
    assert "nothing was charged and the time is free" in page.text
    assert stripe_fake.sessions[booking.stripe_checkout_session_id]["status"] == "expired"
    assert _reread(booking.id).status is SessionStatus.CANCELED
    assert [s.id for s in hold.open_slots_page(slot.coach_id).rows] == [slot.id]
    # coming back twice changes nothing more
    assert mentee_client.get(cancel_link).status_code == 303
    assert stripe_fake.count("checkout.sessions.expire") == 1


def test_a_cancel_link_without_the_portals_token_changes_nothing(
    checkout: Checkout, mentee_client: FlaskClient, stripe_fake: FakeStripe
) -> None:
    booking = checkout.start()
    forged = _cancel_link(stripe_fake, booking).split("?")[0] + "?token=" + "0" * 32
    for link in (forged, f"/bookings/{booking.id}/checkout-canceled"):
        assert mentee_client.get(link).status_code == 404
    assert _reread(booking.id).status is SessionStatus.PENDING_PAYMENT
    assert stripe_fake.count("checkout.sessions.expire") == 0


def _cancel_link(stripe_fake: FakeStripe, booking: Booking) -> str:
    """The path of the cancel_url the portal gave Stripe for this booking."""
    parts = urlsplit(stripe_fake.sessions[booking.stripe_checkout_session_id]["cancel_url"])
    return f"{parts.path}?{parts.query}"


def test_leaving_a_checkout_that_was_paid_meanwhile_keeps_the_booking(
    checkout: Checkout, mentee_client: FlaskClient, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    booking = checkout.start()
    stripe_fake.pay(booking.stripe_checkout_session_id)
    response = mentee_client.get(_cancel_link(stripe_fake, booking))
    assert response.headers["Location"] == f"/bookings/{booking.id}"
    _assert_paid_once(booking.id, slot.coach_id)


def test_events_about_other_objects_are_ignored(checkout: Checkout) -> None:
    stray = {"id": "pi_other", "object": "payment_intent", "status": "succeeded", "metadata": {}}
    response = checkout.tell("payment_intent.succeeded", stray)
    assert (response.status_code, response.text) == (200, "ignored")


def _completed(checkout: Checkout, checkout_session: dict[str, Any]) -> str:
    """Stripe tells the webhook that `checkout_session` completed; the runner's answer."""
    response = checkout.tell("checkout.session.completed", checkout_session)
    assert response.status_code == 200
    return response.text


def test_another_checkouts_payment_naming_the_booking_does_not_confirm_it(
    app: Flask,
    checkout: Checkout,
    slot: AvailabilitySlot,
    stripe_fake: FakeStripe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Only the booking's own Checkout (or any, while it has none) may confirm it: another
    # Checkout naming it is logged and changes nothing.
    booking = checkout.start()
    own = booking.stripe_checkout_session_id
    other = {
        **stripe_fake.event_object(own),
        "id": "cs_test_other",
        "status": "complete",
        "payment_status": "paid",
        "payment_intent": "pi_test_other",
    }
    assert _completed(checkout, other) == "ignored"
    assert f"Checkout cs_test_other does not belong to booking {booking.id}" in caplog.text
    untouched = _reread(booking.id)
    assert (untouched.status, untouched.payment_status) == (
        SessionStatus.PENDING_PAYMENT,
        PaymentStatus.PENDING,
    )
    assert (untouched.stripe_checkout_session_id, untouched.stripe_payment_intent_id) == (own, None)
    assert db.session.query(Transaction).count() == 0
    assert db.session.query(LedgerEntry).count() == 0
    assert messages(app) == []

    # Its own Checkout still confirms it.
    stripe_fake.pay(own)
    assert _completed(checkout, stripe_fake.event_object(own)) == "processed"
    _assert_paid_once(booking.id, slot.coach_id)


def _paid_after_its_release(checkout: Checkout) -> Booking:
    """The mentee leaves Checkout and the booking is released, but Stripe completes the
    payment all the same (it was being paid as the portal let the time go)."""
    booking = checkout.start()
    assert checkout.mentee.get(_cancel_link(checkout.stripe, booking)).status_code == 303
    assert _reread(booking.id).status is SessionStatus.CANCELED
    checkout.stripe.pay(booking.stripe_checkout_session_id)
    return booking


def test_a_payment_after_the_release_takes_the_slot_back_while_it_is_free(
    app: Flask, checkout: Checkout, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    booking = _paid_after_its_release(checkout)
    paid = stripe_fake.event_object(booking.stripe_checkout_session_id)
    assert _completed(checkout, paid) == "processed"
    _assert_paid_once(booking.id, slot.coach_id)
    assert hold.open_slots_page(slot.coach_id).rows == []  # held again
    by_to = {m["To"]: str(m["Subject"]) for m in messages(app)}
    assert by_to.keys() == {booking.mentee.email, db.session.get(User, slot.coach_id).email}
    assert by_to[booking.mentee.email].startswith("Booked: ")
    assert _completed(checkout, paid) == "processed"  # told again: nothing more
    _assert_paid_once(booking.id, slot.coach_id)
    assert len(messages(app)) == 2


def test_a_payment_after_the_release_of_a_slot_taken_since_is_recorded_for_a_refund(
    app: Flask,
    checkout: Checkout,
    slot: AvailabilitySlot,
    stripe_fake: FakeStripe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    booking = _paid_after_its_release(checkout)
    second = app.test_client()
    login(second, make_user(Role.MENTEE, password=PASSWORD))
    assert book_slot(second, slot.id).status_code == 303
    taken = db.session.scalars(db.select(Booking).where(Booking.id != booking.id)).one()

    paid = stripe_fake.event_object(booking.stripe_checkout_session_id)
    assert _completed(checkout, paid) == "processed"
    assert f"Booking {booking.id} was paid after its slot was taken; refund it" in caplog.text
    released = _reread(booking.id)
    assert (released.status, released.payment_status) == (
        SessionStatus.CANCELED,
        PaymentStatus.PAID,
    )
    # The money is recorded, as Stripe holds it, for an admin to refund; nobody is told it is
    # booked, and the slot stays with the mentee who took it.
    [transaction] = db.session.scalars(db.select(Transaction)).all()
    assert (transaction.session_id, transaction.amount) == (booking.id, Decimal("100.00"))
    assert transaction.status is TransactionStatus.COMPLETED
    assert ledger.balances_of(slot.coach_id).pending == Decimal("80.00")
    assert ledger.verify() == []
    assert db.session.get(Booking, taken.id).status is SessionStatus.PENDING_PAYMENT
    assert messages(app) == []
