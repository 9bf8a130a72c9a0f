"""A coach's journey in a real browser: sign up, onboard with Stripe (leaving half way once),
become bookable, receive a booking, watch pending turn available, pay out, see it paid."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import Payout, PayoutStatus, User
from tests.browser.helpers import (
    chart_labels_fit_a_phone,
    ledger_is_clean,
    pay_on_checkout,
    sign_up,
    table_fits_a_phone,
)
from tests.builders import make_slot
from tests.live import LivePortal, LiveSandbox

TWO_DAYS_AND_A_BIT = 2 * 24 * 3600 + 60


def _fill_personal_details(page: Page) -> None:
    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_label("Date of birth").fill("1980-01-02")
    page.get_by_label("I accept the Stripe Connected Account Agreement").check()


def _onboard_leaving_half_way(page: Page, portal: LivePortal, audit) -> None:  # type: ignore[no-untyped-def]
    page.goto(portal.url + "/coach/earnings")
    page.get_by_role("link", name="Set up payouts").click()
    audit(page)
    links: list[str] = []  # the Account Link Stripe sent the coach to, before its redirects
    page.on(
        "request",
        lambda r: (
            links.append(r.url)
            if "/connect/onboarding/" in r.url and "/run/" not in r.url
            else None
        ),
    )
    page.get_by_role("button", name="Continue to Stripe").click()
    expect(page.get_by_label("First name")).to_be_visible()
    first_link = links[0]
    _fill_personal_details(page)
    audit(page)
    page.get_by_role("button", name="Save and finish later").click()

    # Back on the portal, half way: Stripe still needs the bank account, and payouts are off.
    expect(page.get_by_text("Welcome back")).to_be_visible()
    expect(page.get_by_text("bank account", exact=False).first).to_be_visible()
    audit(page)

    # The old link is used up: Stripe sends the coach to the portal's refresh link, which makes
    # a fresh one and carries on where they left off.
    page.goto(first_link)
    expect(page.get_by_label("Routing number")).to_be_visible()
    page.get_by_label("Routing number").fill("110000000")
    page.get_by_label("Account number").fill("000123456789")
    audit(page)
    page.get_by_role("button", name="Finish", exact=True).click()
    expect(page.get_by_text("Welcome back")).to_be_visible()


def _a_mentee_books_and_pays(browser, portal: LivePortal, coach: User) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context()
    mentee = context.new_page()
    sign_up(mentee, portal, "Sam Mentee", "sam@example.com")
    mentee.goto(f"{portal.url}/coaches/{coach.id}")
    mentee.get_by_role("button", name="Book and pay $120.00").first.click()
    pay_on_checkout(mentee, "4242 4242 4242 4242")
    expect(mentee.get_by_text("Your session is booked and paid.")).to_be_visible(timeout=20_000)
    context.close()


def test_coach_onboards_is_booked_watches_funds_become_available_and_pays_out(
    app: Flask,
    live_sandbox: LiveSandbox,
    live_portal: LivePortal,
    browser,
    page: Page,
    audit,
    shoot,
) -> None:
    sign_up(page, live_portal, "Grace Hopper", "grace@example.com", role="coach", audit=audit)
    page.get_by_label("Headline").fill("Debugging your career in software")
    # A 400 from an HTMX form is swapped in: the error shows beside its field.
    page.get_by_label("Price of one session").fill("0")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#profile-form .field-error")).to_be_visible()
    page.get_by_label("Start (your time").fill("2001-01-01T10:00")
    page.get_by_role("button", name="Add open time").click()
    expect(page.get_by_text("That time has passed. Offer a time in the future.")).to_be_visible()
    # The browser logs each 400 it was answered; those two were the point, nothing else was.
    assert [e.split(" (BAD REQUEST)")[0] for e in audit.console_errors] == [
        "Failed to load resource: the server responded with a status of 400"
    ] * 2
    audit.console_errors.clear()
    audit(page)
    page.get_by_label("Price of one session").fill("120.00")
    page.get_by_label("Show me in the coaches directory").check()
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Your profile is saved.")).to_be_visible()
    audit(page)
    coach = db.session.scalar(select(User).where(User.email == "grace@example.com"))
    make_slot(coach, hours_from_now=96)

    _onboard_leaving_half_way(page, live_portal, audit)
    live_sandbox.flush()  # account.updated: Stripe has enabled charges and payouts
    page.goto(live_portal.url + "/coach/earnings")
    expect(page.get_by_role("link", name="Set up payouts")).to_have_count(0)
    audit(page)

    _a_mentee_books_and_pays(browser, live_portal, coach)
    live_sandbox.flush()
    page.reload()
    expect(page.locator("[data-amount=pending]")).to_contain_text("$96.00")
    expect(page.locator("[data-amount=available]")).to_contain_text("$0.00")

    live_sandbox.advance(TWO_DAYS_AND_A_BIT)  # Stripe releases the funds
    live_sandbox.flush()
    page.reload()
    expect(page.locator("[data-amount=available]")).to_contain_text("$96.00")
    expect(page.locator("[data-amount=pending]")).to_contain_text("$0.00")
    audit(page)
    shoot(page, "coach-earnings")

    page.get_by_role("link", name="Pay out now").click()
    audit(page)
    page.get_by_role("button", name="Yes, pay out now").click()
    expect(page.get_by_text("is on its way to your bank")).to_be_visible()
    live_sandbox.flush()
    page.goto(live_portal.url + "/coach/earnings")
    payouts = page.locator("#payouts-heading ~ *")
    expect(payouts.get_by_text("Pending").first).to_be_visible()
    expect(page.locator("[data-amount=available]")).to_contain_text("$0.00")

    live_sandbox.advance(TWO_DAYS_AND_A_BIT)  # the bank receives it
    live_sandbox.flush()
    page.reload()
    expect(payouts.get_by_text("Paid").first).to_be_visible()
    audit(page)
    table_fits_a_phone(page, "#payouts-rows", "Amount", audit)
    table_fits_a_phone(page, "#activity-rows", "Your share")
    chart_labels_fit_a_phone(page)

    payout = db.session.scalar(select(Payout))
    assert (payout.amount, payout.status) == (Decimal("96.00"), PayoutStatus.PAID)
    assert coach.coach_profile.total_earnings == Decimal("96.00")
    ledger_is_clean(app)


def test_a_failing_payout_shows_the_coach_why_and_returns_the_money(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, browser, page: Page, audit
) -> None:
    sign_up(page, live_portal, "Ada Lovelace", "ada@example.com", role="coach")
    page.get_by_label("Price of one session").fill("120.00")
    page.get_by_label("Show me in the coaches directory").check()
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Your profile is saved.")).to_be_visible()
    coach = db.session.scalar(select(User).where(User.email == "ada@example.com"))
    make_slot(coach, hours_from_now=96)
    _onboard_leaving_half_way(page, live_portal, audit)
    live_sandbox.flush()

    _a_mentee_books_and_pays(browser, live_portal, coach)
    live_sandbox.advance(TWO_DAYS_AND_A_BIT)
    live_sandbox.flush()
    live_sandbox.control("payouts/fail_next", account=coach.stripe_connect_account_id)

    page.goto(live_portal.url + "/coach/earnings")
    page.get_by_role("link", name="Pay out now").click()
    page.get_by_role("button", name="Yes, pay out now").click()
    expect(page.get_by_text("is on its way to your bank")).to_be_visible()
    live_sandbox.advance(TWO_DAYS_AND_A_BIT)
    live_sandbox.flush()
    page.goto(live_portal.url + "/coach/earnings")
    expect(page.locator("#payouts-heading ~ *").get_by_text("Failed").first).to_be_visible()
    expect(page.locator("[data-amount=available]")).to_contain_text("$96.00")
    audit(page)

    payout = db.session.scalar(select(Payout))
    assert payout.status is PayoutStatus.FAILED
    ledger_is_clean(app)
