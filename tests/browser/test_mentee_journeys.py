"""A mentee's journeys in a real browser: sign up, find a coach, book, pay, come back."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AvailabilitySlot,
    Booking,
    PaymentStatus,
    SessionStatus,
    Transaction,
    TransactionStatus,
)
from tests.browser.helpers import bookable_coach, ledger_is_clean, pay_on_checkout, sign_up
from tests.live import LivePortal, LiveSandbox


def test_new_mentee_books_pays_with_4242_and_sees_the_booking_confirmed(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, page: Page, audit, shoot
) -> None:
    coach = bookable_coach(live_sandbox)
    sign_up(page, live_portal, "Sam Mentee", "sam@example.com", audit=audit)
    audit(page)

    page.get_by_role("link", name="Coaches").first.click()
    expect(page.get_by_role("heading", name="Find a coach")).to_be_visible()
    audit(page)
    shoot(page, "directory")
    page.get_by_role("link", name="Grace Hopper").click()
    expect(page.get_by_text("$100.00").first).to_be_visible()
    audit(page)
    shoot(page, "coach-page")

    page.get_by_role("button", name="Book and pay $100.00").first.click()
    expect(page.get_by_text("Card number")).to_be_visible()  # Stripe's Checkout page
    audit(page)
    shoot(page, "checkout")
    pay_on_checkout(page, "4242 4242 4242 4242")

    # Back on the portal: the page confirms by itself once Stripe's webhook lands.
    expect(page.get_by_text("Your session is booked and paid.")).to_be_visible(timeout=20_000)
    audit(page)
    shoot(page, "booking-confirmed")

    booking = db.session.scalar(select(Booking))
    assert booking.status is SessionStatus.CONFIRMED
    assert booking.payment_status is PaymentStatus.PAID
    assert (booking.price_amount, booking.platform_fee_amount, booking.coach_share) == (
        Decimal("100.00"),
        Decimal("20.00"),
        Decimal("80.00"),
    )
    transaction = db.session.scalar(select(Transaction))
    assert transaction.status is TransactionStatus.COMPLETED
    assert transaction.amount == Decimal("100.00")
    assert transaction.coach_id == coach.id
    assert coach.coach_profile.pending_balance == Decimal("80.00")
    ledger_is_clean(app)


def test_declined_card_shows_the_error_and_the_slot_is_free_again(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, page: Page, audit
) -> None:
    coach = bookable_coach(live_sandbox, slots=1)
    sign_up(page, live_portal, "Riley Learner", "riley@example.com")
    page.goto(f"{live_portal.url}/coaches/{coach.id}")
    page.get_by_role("button", name="Book and pay $100.00").click()
    pay_on_checkout(page, "4000 0000 0000 0002")
    expect(page.get_by_text("declined", exact=False).first).to_be_visible()
    audit(page)

    # The mentee gives up and goes back to the portal: the hold ends, the time is open again.
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_text("Nothing was charged", exact=False).first).to_be_visible()
    audit(page)
    booking = db.session.scalar(select(Booking))
    assert booking.status is SessionStatus.CANCELED
    assert db.session.scalar(select(Transaction)) is None
    page.goto(f"{live_portal.url}/coaches/{coach.id}")
    slot = db.session.scalar(select(AvailabilitySlot))
    assert slot is not None
    expect(page.get_by_role("button", name="Book and pay $100.00")).to_be_visible()
    ledger_is_clean(app)
