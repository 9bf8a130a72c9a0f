"""A mentee's cards and membership in a real browser: save cards, choose the default, pay in one
click, cancel for a refund; become a member, see the discount, read invoices, cancel."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Booking,
    PaymentMethod,
    RefundStatus,
    SessionStatus,
    Subscription,
    SubscriptionStatus,
    Transaction,
    TransactionStatus,
    User,
)
from tests.browser.helpers import (
    bookable_coach,
    ledger_is_clean,
    pay_on_checkout,
    sign_up,
    table_fits_a_phone,
)
from tests.live import LivePortal, LiveSandbox


def _save_card(page: Page, portal: LivePortal, number: str) -> None:
    page.goto(portal.url + "/billing/cards")
    page.get_by_role("button", name="Add a card").click()
    pay_on_checkout(page, number)  # the setup-mode page's button says "Save card"
    expect(page.get_by_role("heading", name="Your cards")).to_be_visible()


def test_mentee_saves_cards_pays_in_one_click_and_cancels_for_a_refund(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, page: Page, audit, shoot
) -> None:
    coach = bookable_coach(live_sandbox)
    sign_up(page, live_portal, "Sam Mentee", "sam@example.com")

    _save_card(page, live_portal, "4242 4242 4242 4242")
    expect(page.get_by_role("cell", name="Visa ending 4242")).to_be_visible()
    audit(page)
    _save_card(page, live_portal, "5555 5555 5555 4444")
    cards = page.locator("#cards")
    expect(cards.get_by_role("cell", name="Mastercard ending 4444")).to_be_visible()

    # Make the Mastercard the default, in place (HTMX).
    page.locator("tr", has_text="Mastercard ending 4444").get_by_role(
        "button", name="Make default"
    ).click()
    expect(
        page.locator("tr", has_text="Mastercard ending 4444").get_by_text("Default")
    ).to_be_visible()
    audit(page)
    shoot(page, "cards")
    mentee = db.session.scalar(select(User).where(User.email == "sam@example.com"))
    default = db.session.scalar(select(PaymentMethod).where(PaymentMethod.is_default.is_(True)))
    assert default.last4 == "4444"
    assert mentee.default_payment_method_id == default.stripe_payment_method_id

    page.goto(f"{live_portal.url}/coaches/{coach.id}")
    page.get_by_role("button", name="Pay with Mastercard ending 4444").first.click()
    expect(page.get_by_text("Your session is booked and paid.")).to_be_visible(timeout=20_000)
    audit(page)

    # More than 24 hours ahead: cancelling refunds in full.
    page.get_by_role("link", name="Cancel this booking").click()
    expect(
        page.get_by_text("You get $100.00 back: more than 24 hours before the start.")
    ).to_be_visible()
    audit(page)
    page.get_by_role("button", name="Confirm: cancel the booking").click()
    expect(page.locator(".flash-success")).to_be_visible()  # canceled, the refund on its way
    live_sandbox.flush()
    page.reload()
    expect(page.get_by_text("$100.00 (succeeded)")).to_be_visible()
    audit(page)
    page.goto(f"{live_portal.url}/my/sessions")
    table_fits_a_phone(page, "table.stack", "Payment")

    booking = db.session.scalar(select(Booking))
    assert booking.status is SessionStatus.CANCELED
    transaction = db.session.scalar(select(Transaction))
    assert transaction.status is TransactionStatus.REFUNDED
    assert [r.status for r in transaction.refunds] == [RefundStatus.SUCCEEDED]
    assert coach.coach_profile.total_earnings == Decimal("0.00")
    ledger_is_clean(app)


def test_mentee_becomes_a_member_sees_the_discount_reads_invoices_and_cancels(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, page: Page, audit, shoot
) -> None:
    coach = bookable_coach(live_sandbox)
    sign_up(page, live_portal, "Riley Learner", "riley@example.com")

    page.get_by_role("link", name="Membership").click()
    audit(page)
    page.get_by_role("button", name="Subscribe").click()
    pay_on_checkout(page, "4242 4242 4242 4242")
    expect(page.get_by_text("Welcome! Your membership is active.")).to_be_visible()
    audit(page)
    shoot(page, "membership")

    # The member price: 10% off the $100.00 list price, out of the platform's fee.
    page.goto(f"{live_portal.url}/coaches/{coach.id}")
    expect(page.get_by_text("Member price").first).to_be_visible()
    expect(page.get_by_role("button", name="Book and pay $90.00").first).to_be_visible()
    audit(page)

    page.get_by_role("link", name="Invoices").click()
    expect(page.get_by_role("cell", name="$19.00")).to_be_visible()
    expect(page.get_by_text("Paid").first).to_be_visible()
    audit(page)

    page.get_by_role("link", name="Membership").click()
    page.get_by_role("link", name="Cancel at period end").click()
    expect(page.get_by_text("Nothing is refunded", exact=False)).to_be_visible()
    audit(page)
    page.get_by_role("button", name="Confirm: cancel at period end").click()
    expect(page.get_by_text("Ends ", exact=False).first).to_be_visible()
    expect(page.get_by_role("button", name="Resume membership")).to_be_visible()
    audit(page)

    live_sandbox.flush()
    subscription = db.session.scalar(select(Subscription))
    assert subscription.status is SubscriptionStatus.ACTIVE
    assert subscription.cancel_at_period_end is True
    ledger_is_clean(app)
