"""The membership through the sandbox: subscribe, renew on the clock, a failed renewal, cancel."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask import Flask

from portal.extensions import db
from portal.models import Invoice, InvoiceStatus, SubscriptionStatus
from tests.billing.conftest import (
    DECLINES_WHEN_CHARGED,
    attempt,
    cards_of,
    save_card,
    signed_in_mentee,
    subscribe,
    subscription_of,
)
from tests.live import LivePortal, LiveSandbox

pytestmark = pytest.mark.usefixtures("settled")

DAY = 86400


def _invoices(user) -> list[Invoice]:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return list(
        db.session.scalars(
            db.select(Invoice).where(Invoice.user_id == user.id).order_by(Invoice.id)
        )
    )


def test_subscribing_through_checkout_makes_an_active_monthly_member_with_a_paid_invoice(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    page = subscribe(live_portal, browser)
    assert "Your membership is active." in page.text
    subscription = subscription_of(mentee)
    assert subscription is not None
    assert subscription.status is SubscriptionStatus.ACTIVE
    assert (subscription.amount, subscription.currency, subscription.interval.value) == (
        Decimal("19.00"),
        "USD",
        "month",
    )
    assert (
        28 * DAY
        <= (subscription.current_period_end - subscription.current_period_start).total_seconds()
        <= 31 * DAY
    )
    live_sandbox.flush()
    [invoice] = _invoices(mentee)
    assert (invoice.status, invoice.amount, invoice.subscription_id) == (
        InvoiceStatus.PAID,
        Decimal("19.00"),
        subscription.id,
    )
    assert invoice.paid_at is not None and invoice.invoice_url and invoice.invoice_pdf
    [card] = cards_of(mentee)  # the card given on Checkout is kept, and is the default
    assert card.is_default
    listing = browser.get(live_portal.url + "/billing/invoices", timeout=10).text
    assert "$19.00" in listing and "Paid" in listing and invoice.invoice_pdf in listing


def test_the_plan_price_is_made_once_and_found_again_by_its_lookup_key(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    _, first = signed_in_mentee(live_portal)
    subscribe(live_portal, first, interval="year")
    live_portal.app.extensions.pop("membership_prices", None)  # as after a restart
    second_mentee, second = signed_in_mentee(live_portal)
    subscribe(live_portal, second, interval="year")
    prices = live_sandbox.client().v1.prices.list(params={"limit": 100}).data
    yearly = [p for p in prices if p.lookup_key == "membership_year_19000_usd"]
    assert len(yearly) == 1 and yearly[0].unit_amount == 19000
    assert subscription_of(second_mentee).amount == Decimal("190.00")


def test_a_renewal_on_the_sandbox_clock_moves_the_period_and_adds_a_paid_invoice(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    subscribe(live_portal, browser)
    live_sandbox.flush()
    first_end = subscription_of(mentee).current_period_end
    live_sandbox.advance(32 * DAY)
    live_sandbox.flush()
    subscription = subscription_of(mentee)
    assert subscription.status is SubscriptionStatus.ACTIVE
    assert subscription.current_period_start == first_end
    assert [i.status for i in _invoices(mentee)] == [InvoiceStatus.PAID, InvoiceStatus.PAID]


def test_a_failed_renewal_shows_a_banner_on_every_mentee_page_until_the_card_is_fixed(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    subscribe(live_portal, browser)
    save_card(live_portal, browser, DECLINES_WHEN_CHARGED)
    live_sandbox.flush()  # the card given on Checkout arrives by its webhook
    by_last4 = {card.last4: card for card in cards_of(mentee)}
    good, bad = by_last4["4242"], by_last4["0341"]
    live_portal.post(browser, f"/billing/cards/{bad.id}/default", "/billing/cards")
    live_sandbox.flush()
    assert "renewal payment failed" not in browser.get(live_portal.url + "/", timeout=10).text

    live_sandbox.advance(32 * DAY)
    live_sandbox.flush()
    assert subscription_of(mentee).status is SubscriptionStatus.PAST_DUE
    assert [i.status for i in _invoices(mentee)] == [InvoiceStatus.PAID, InvoiceStatus.OPEN]
    for path in ("/", "/billing/membership", "/billing/invoices", "/my/sessions"):
        page = browser.get(live_portal.url + path, timeout=10).text
        assert "Your membership renewal payment failed." in page, path
        assert 'href="/billing/cards">Fix your card</a>' in page, path

    # Fixing the card: the good card becomes the default, and the sandbox's retry pays.
    live_portal.post(browser, f"/billing/cards/{good.id}/default", "/billing/cards")
    live_sandbox.advance(3 * DAY + 60)
    live_sandbox.flush()
    assert subscription_of(mentee).status is SubscriptionStatus.ACTIVE
    assert "renewal payment failed" not in browser.get(live_portal.url + "/", timeout=10).text


def test_cancel_at_period_end_then_resume_then_cancel_ends_the_membership_at_period_end(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    subscribe(live_portal, browser)
    period_end = subscription_of(mentee).current_period_end
    membership_page = browser.get(live_portal.url + "/billing/membership").text
    assert 'href="/billing/membership/cancel">Cancel at period end</a>' in membership_page
    preview = browser.get(live_portal.url + "/billing/membership/cancel").text
    assert "Nothing is refunded" in preview
    assert f"stay until {period_end:%d %b %Y}" in preview
    assert subscription_of(mentee).cancel_at_period_end is False  # the preview changes nothing
    cancel = live_portal.post(
        browser, "/billing/membership/cancel", "/billing/membership", attempt=attempt()
    )
    assert cancel.status_code == 303
    assert subscription_of(mentee).cancel_at_period_end is True
    assert "Resume membership" in browser.get(live_portal.url + "/billing/membership").text

    live_portal.post(
        browser, "/billing/membership/resume", "/billing/membership", attempt=attempt()
    )
    live_sandbox.flush()
    assert subscription_of(mentee).cancel_at_period_end is False

    live_portal.post(
        browser, "/billing/membership/cancel", "/billing/membership", attempt=attempt()
    )
    live_sandbox.flush()
    assert subscription_of(mentee).status is SubscriptionStatus.ACTIVE
    live_sandbox.advance(32 * DAY)
    live_sandbox.flush()
    assert subscription_of(mentee).status is SubscriptionStatus.CANCELED
    assert len(_invoices(mentee)) == 1
    assert "Become a member" in browser.get(live_portal.url + "/billing/membership").text


def test_manage_membership_opens_the_stripe_customer_portal(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    _, browser = signed_in_mentee(live_portal)
    subscribe(live_portal, browser)
    response = live_portal.post(browser, "/billing/membership/manage", "/billing/membership")
    assert response.status_code == 303
    assert response.headers["Location"].startswith(live_sandbox.url + "/billing/portal/bps_")


def test_subscription_events_in_reverse_order_leave_the_row_as_stripe_has_it(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    live_sandbox.control("webhooks/pause")
    subscribe(live_portal, browser, come_back=False)
    stripe = live_sandbox.client()
    [sub] = stripe.v1.subscriptions.list(params={"limit": 10}).data
    stripe.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    events = stripe.v1.events.list(params={"limit": 100}).data  # newest first
    live_sandbox.control("webhooks/deliver", ids=[e.id for e in events])
    live_sandbox.control("webhooks/resume")
    live_sandbox.flush()
    subscription = subscription_of(mentee)
    assert subscription.status is SubscriptionStatus.ACTIVE
    assert subscription.cancel_at_period_end is True
    [invoice] = _invoices(mentee)
    assert invoice.status is InvoiceStatus.PAID  # invoice.finalized came after invoice.paid
    assert invoice.subscription_id == subscription.id


def _membership_action(live_portal: LivePortal, browser, action: str):  # type: ignore[no-untyped-def]
    path = f"/billing/membership/{action}"
    response = live_portal.post(browser, path, "/billing/membership", attempt=attempt())
    assert response.status_code == 303
    return response
