"""Paying a booking with the saved card: one click, the same fulfilment, Checkout as fallback."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask import Flask

from portal import ledger
from portal.extensions import db
from portal.models import (
    Booking,
    CoachProfile,
    PaymentStatus,
    SessionStatus,
    Transaction,
    TransactionType,
)
from tests.billing.conftest import (
    DECLINES_WHEN_CHARGED,
    GOOD,
    NEEDS_AUTHENTICATION,
    bookable_coach,
    cards_of,
    fill_hosted_page,
    save_card,
    signed_in_mentee,
    subscribe,
)
from tests.builders import make_slot
from tests.live import LivePortal, LiveSandbox

pytestmark = pytest.mark.usefixtures("settled")


def _pay_with_saved_card(live_portal: LivePortal, browser, coach, slot):  # type: ignore[no-untyped-def]
    return live_portal.post(
        browser, f"/billing/slots/{slot.id}/pay-with-saved-card", f"/coaches/{coach.id}"
    )


def _booking() -> Booking:
    db.session.expire_all()
    return db.session.scalars(db.select(Booking)).one()


def test_paying_with_the_saved_card_confirms_the_booking_once_with_the_checkout_split(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach, slot = bookable_coach(live_sandbox)
    mentee, browser = signed_in_mentee(live_portal)
    save_card(live_portal, browser, GOOD)

    response = _pay_with_saved_card(live_portal, browser, coach, slot)
    assert response.status_code == 303
    booking = _booking()
    assert response.headers["Location"] == f"/bookings/{booking.id}"
    assert (booking.status, booking.payment_status) == (SessionStatus.CONFIRMED, PaymentStatus.PAID)
    live_sandbox.flush()  # payment_intent.succeeded finds it done
    [transaction] = db.session.scalars(db.select(Transaction)).all()
    assert (transaction.amount, transaction.platform_fee, transaction.coach_share) == (
        Decimal("100.00"),
        Decimal("20.00"),
        Decimal("80.00"),
    )
    assert transaction.stripe_transfer_id
    intent = live_sandbox.client().v1.payment_intents.retrieve(transaction.stripe_payment_intent_id)
    assert (intent.application_fee_amount, intent.transfer_data.destination) == (
        2000,
        coach.stripe_connect_account_id,
    )
    profile = db.session.scalar(db.select(CoachProfile).where(CoachProfile.user_id == coach.id))
    assert profile.pending_balance == Decimal("80.00")
    assert ledger.verify() == []


def test_the_coach_page_offers_the_default_card_by_brand_and_last_four(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach, _ = bookable_coach(live_sandbox)
    _, browser = signed_in_mentee(live_portal)
    save_card(live_portal, browser, GOOD)
    page = browser.get(f"{live_portal.url}/coaches/{coach.id}", timeout=10).text
    assert "Pay with Visa ending 4242" in page


def _falls_back_to_checkout(live_portal, live_sandbox, number, message):  # type: ignore[no-untyped-def]
    coach, slot = bookable_coach(live_sandbox)
    _, browser = signed_in_mentee(live_portal)
    save_card(live_portal, browser, number)
    response = _pay_with_saved_card(live_portal, browser, coach, slot)
    assert response.status_code == 303
    booking = _booking()
    assert response.headers["Location"] == f"/billing/bookings/{booking.id}/checkout"
    assert booking.status is SessionStatus.PENDING_PAYMENT  # still held for Checkout
    page = browser.get(live_portal.url + response.headers["Location"], timeout=10).text
    assert message in page
    onward = live_portal.post(
        browser,
        f"/billing/bookings/{booking.id}/checkout",
        f"/billing/bookings/{booking.id}/checkout",
    )
    checkout_url = onward.headers["Location"]
    assert checkout_url.startswith(live_sandbox.url + "/checkout/pay/cs_test_")
    paid = fill_hosted_page(browser, checkout_url, GOOD)
    browser.get(paid.headers["Location"], timeout=10)
    live_sandbox.flush()
    booking = _booking()
    assert (booking.status, booking.payment_status) == (SessionStatus.CONFIRMED, PaymentStatus.PAID)
    assert len(db.session.scalars(db.select(Transaction)).all()) == 1
    assert ledger.verify() == []


def test_a_declined_saved_card_falls_back_to_checkout_with_a_clear_message(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    # 4000 0000 0000 0002 cannot be saved at all (Stripe refuses to attach it; see test_cards);
    # 0341 is Stripe's card that saves and then declines when charged.
    _falls_back_to_checkout(
        live_portal, live_sandbox, DECLINES_WHEN_CHARGED, "was declined (Your card was declined"
    )


def test_a_saved_card_that_needs_authentication_falls_back_to_checkout(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    _falls_back_to_checkout(
        live_portal, live_sandbox, NEEDS_AUTHENTICATION, "Your bank wants to confirm this payment"
    )


def test_a_member_pays_less_by_the_discount_out_of_the_fee_and_it_is_recorded(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach, slot = bookable_coach(live_sandbox)
    _, browser = signed_in_mentee(live_portal)
    subscribe(live_portal, browser)
    live_sandbox.flush()  # the membership's card reaches the portal by payment_method.attached
    save_card(live_portal, browser, GOOD)  # and is offered for one click once the mentee saves it
    page = browser.get(f"{live_portal.url}/coaches/{coach.id}", timeout=10).text
    assert "$90.00" in page  # shown before paying
    assert _pay_with_saved_card(live_portal, browser, coach, slot).status_code == 303
    live_sandbox.flush()
    [membership, transaction] = db.session.scalars(
        db.select(Transaction).order_by(Transaction.id)
    ).all()
    assert (membership.type, membership.amount) == (
        TransactionType.SUBSCRIPTION_PAYMENT,
        Decimal("19.00"),
    )
    assert (transaction.amount, transaction.platform_fee, transaction.coach_share) == (
        Decimal("90.00"),
        Decimal("10.00"),
        Decimal("80.00"),
    )
    assert transaction.meta["member_discount"] == "10.00"
    assert transaction.meta["list_price"] == "100.00"


def test_a_checkout_booking_can_save_the_card_which_then_appears_on_the_cards_page(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach, slot = bookable_coach(live_sandbox)
    mentee, browser = signed_in_mentee(live_portal)
    response = live_portal.post(
        browser, f"/slots/{slot.id}/book", f"/coaches/{coach.id}", save_card="y"
    )
    assert response.status_code == 303
    paid = fill_hosted_page(browser, response.headers["Location"], "5555 5555 5555 4444")
    browser.get(paid.headers["Location"], timeout=10)
    live_sandbox.flush()
    page = browser.get(live_portal.url + "/billing/cards", timeout=10).text
    assert "Mastercard ending 4444" in page
    [card] = cards_of(mentee)
    assert card.chosen  # the box was ticked: offered for one click
    later = make_slot(coach, hours_from_now=96)
    coach_page = browser.get(f"{live_portal.url}/coaches/{coach.id}", timeout=10).text
    assert f'action="/billing/slots/{later.id}/pay-with-saved-card"' in coach_page
    assert "Pay with Mastercard ending 4444" in coach_page
