"""Journeys through the offline Stripe sandbox: book, pay on its Checkout page, come back,
cancel and be refunded; and a declined card whose hold ends when Checkout expires."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask

from portal import ledger
from portal.bookings import hold
from portal.extensions import db
from portal.models import (
    Booking,
    CoachProfile,
    PaymentStatus,
    RefundStatus,
    Role,
    SessionStatus,
    Transaction,
    TransactionStatus,
)
from tests.builders import make_slot, make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox, live_portal, live_sandbox, onboard_coach
from tests.stripe_agreement import balance_disagreements

__all__ = ["live_portal", "live_sandbox"]


def _coach_and_slot(live_sandbox: LiveSandbox):  # type: ignore[no-untyped-def]
    coach = make_user(
        Role.COACH, password=PASSWORD, name="Grace Hopper", session_price=Decimal("100.00")
    )
    onboard_coach(live_sandbox, coach)
    return coach, make_slot(coach, hours_from_now=72)


def _book(live_portal: LivePortal, browser, coach, slot) -> str:  # type: ignore[no-untyped-def]
    response = live_portal.post(browser, f"/slots/{slot.id}/book", f"/coaches/{coach.id}")
    assert response.status_code == 303, response.text
    return response.headers["Location"]


def _pay(browser, checkout_url: str, number: str):  # type: ignore[no-untyped-def]
    return browser.post(
        checkout_url,
        data={"number": number, "expiry": "12/34", "cvc": "123", "name": "Ada Lovelace"},
        allow_redirects=False,
        timeout=10,
    )


def test_a_mentee_books_pays_comes_back_confirmed_and_cancels_for_a_refund(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach, slot = _coach_and_slot(live_sandbox)
    mentee = make_user(Role.MENTEE, password=PASSWORD)
    browser = live_portal.browser()
    live_portal.login(browser, mentee)

    checkout_url = _book(live_portal, browser, coach, slot)
    assert checkout_url.startswith(live_sandbox.url + "/checkout/pay/cs_test_")
    assert "Session with Grace Hopper on" in browser.get(checkout_url, timeout=10).text
    paid = _pay(browser, checkout_url, "4242 4242 4242 4242")
    assert paid.status_code == 303
    return_url = paid.headers["Location"]
    assert return_url.startswith(live_portal.url + "/bookings/return?session_id=cs_test_")
    page = browser.get(return_url, timeout=10)
    assert "Your session is booked and paid." in page.text
    live_sandbox.flush()

    db.session.expire_all()
    booking = db.session.scalars(db.select(Booking)).one()
    assert (booking.status, booking.payment_status) == (SessionStatus.CONFIRMED, PaymentStatus.PAID)
    transaction = db.session.scalars(db.select(Transaction)).one()
    assert (transaction.amount, transaction.platform_fee, transaction.coach_share) == (
        Decimal("100.00"),
        Decimal("20.00"),
        Decimal("80.00"),
    )
    assert transaction.stripe_transfer_id and transaction.stripe_transfer_id.startswith("tr_")
    stripe = live_sandbox.client()
    intent = stripe.v1.payment_intents.retrieve(transaction.stripe_payment_intent_id)
    assert (intent.amount, intent.application_fee_amount) == (10000, 2000)
    assert intent.transfer_data.destination == coach.stripe_connect_account_id
    assert ledger.verify() == []

    coach_browser = live_portal.browser()
    live_portal.login(coach_browser, coach)
    schedule = coach_browser.get(live_portal.url + "/coach/schedule", timeout=10).text
    assert f"/bookings/{booking.id}" in schedule and "Paid" in schedule
    assert "$80.00" in coach_browser.get(f"{live_portal.url}/bookings/{booking.id}").text

    page = f"/bookings/{booking.id}"
    token = live_portal.csrf(browser, page + "/cancel")  # the confirmation's form
    for _ in range(2):  # a double click: the same form posted twice
        clicked = browser.post(
            f"{live_portal.url}{page}/cancel",
            data={"csrf_token": token},
            allow_redirects=False,
            timeout=30,
        )
        assert clicked.status_code == 303
    live_sandbox.flush()

    db.session.expire_all()
    booking = db.session.get(Booking, booking.id)
    assert (booking.status, booking.payment_status) == (
        SessionStatus.CANCELED,
        PaymentStatus.REFUNDED,
    )
    transaction = db.session.get(Transaction, transaction.id)
    assert transaction.status is TransactionStatus.REFUNDED
    [refund] = transaction.refunds
    assert refund.status is RefundStatus.SUCCEEDED
    refunds = stripe.v1.refunds.list(params={"payment_intent": intent.id}).data
    assert [r.id for r in refunds] == [refund.stripe_refund_id]
    assert refunds[0].transfer_reversal  # the coach's transfer came back
    # Stripe transferred the whole 100.00 and took the 20.00 fee back: a full refund reverses
    # the whole transfer and refunds the whole fee, so the coach nets -80.00.
    transfer = stripe.v1.transfers.retrieve(transaction.stripe_transfer_id)
    assert (transfer.amount, transfer.amount_reversed) == (10000, 10000)
    charge = stripe.v1.charges.retrieve(refunds[0].charge)
    assert stripe.v1.application_fees.retrieve(charge.application_fee).amount_refunded == 2000
    profile = db.session.scalar(db.select(CoachProfile).where(CoachProfile.user_id == coach.id))
    assert profile.total_earnings == Decimal("0.00")
    assert balance_disagreements(stripe) == []  # pending 80.00, available -80.00 at both
    assert ledger.verify() == []
    assert "Refund" in browser.get(live_portal.url + page, timeout=10).text


def test_a_declined_card_holds_the_slot_until_checkout_expires_then_frees_it(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach, slot = _coach_and_slot(live_sandbox)
    mentee = make_user(Role.MENTEE, password=PASSWORD)
    browser = live_portal.browser()
    live_portal.login(browser, mentee)

    checkout_url = _book(live_portal, browser, coach, slot)
    declined = _pay(browser, checkout_url, "4000 0000 0000 0002")
    assert declined.status_code == 200  # the form again, with the message
    assert "declined" in declined.text
    live_sandbox.flush()
    db.session.expire_all()
    booking = db.session.scalars(db.select(Booking)).one()
    assert booking.payment_status is PaymentStatus.FAILED
    assert (
        "Your card was declined"
        in browser.get(f"{live_portal.url}/bookings/{booking.id}", timeout=10).text
    )

    live_sandbox.advance(31 * 60)
    live_sandbox.flush()
    db.session.expire_all()
    booking = db.session.get(Booking, booking.id)
    assert (booking.status, booking.payment_status) == (
        SessionStatus.CANCELED,
        PaymentStatus.FAILED,
    )
    assert [s.id for s in hold.open_slots_page(coach.id).rows] == [slot.id]
    assert db.session.query(Transaction).count() == 0


def test_leaving_the_checkout_page_frees_the_slot(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach, slot = _coach_and_slot(live_sandbox)
    browser = live_portal.browser()
    live_portal.login(browser, make_user(Role.MENTEE, password=PASSWORD))
    checkout_url = _book(live_portal, browser, coach, slot)
    back = browser.get(checkout_url + "/cancel", allow_redirects=True, timeout=10)
    assert "nothing was charged and the time is free" in back.text
    live_sandbox.flush()
    assert [s.id for s in hold.open_slots_page(coach.id).rows] == [slot.id]
    assert browser.get(checkout_url, timeout=10).status_code == 410  # expired at Stripe
