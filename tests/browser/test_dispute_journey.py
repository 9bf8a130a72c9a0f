"""Disputes in a real browser. Won: the admin opens it from the Disputes page, reads the evidence
the portal prefilled, submits it to Stripe, and sees the bank's decision with Stripe's figures.
Lost: the coach was paid out already, the admin recovers the share, the coach's dashboard says
in plain words why the balance is below zero, and the next earning repays it before the next
payout, whose page lists the recovery."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal import ledger
from portal.extensions import db
from portal.models import AvailabilitySlot, Role, Transaction, User
from portal.stripe_gateway import checkout as checkout_gateway
from tests.browser.helpers import bookable_coach, ledger_is_clean, sign_in, table_fits_a_phone
from tests.builders import make_slot, make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox
from tests.stripe_agreement import balance_disagreements

TWO_DAYS_AND_A_MINUTE = 2 * 24 * 3600 + 60


def test_admin_submits_evidence_and_the_dispute_is_won(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, page: Page, audit, shoot
) -> None:
    coach = bookable_coach(live_sandbox, slots=1)
    mentee = make_user(Role.MENTEE, "mia@example.com", password=PASSWORD, name="Mia Mentee")
    admin = make_user(Role.ADMIN, "boss@example.com", password=PASSWORD, name="Boss Admin")
    browser = live_portal.browser()
    live_portal.login(browser, mentee)
    slot_id = db.session.scalar(
        select(AvailabilitySlot.id).where(AvailabilitySlot.coach_id == coach.id)
    )
    booked = live_portal.post(browser, f"/slots/{slot_id}/book", f"/coaches/{coach.id}")
    browser.post(
        booked.headers["Location"],
        data={"number": "4000000000000259", "expiry": "12/34", "cvc": "123", "name": "A B"},
        allow_redirects=False,
        timeout=10,
    )
    live_sandbox.flush()

    sign_in(page, live_portal, admin, audit=audit)
    page.get_by_role("link", name="Transactions").first.click()  # the admin area's own nav
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Disputes").click()
    expect(page.locator("#disputes").get_by_text("fraudulent")).to_be_visible()
    expect(page.locator("#disputes .countdown")).to_contain_text("left")
    audit(page)
    table_fits_a_phone(page, "#disputes", "Amount", audit)
    shoot(page, "admin-disputes")
    page.locator("#disputes").get_by_role("link").first.click()
    expect(page.get_by_label("Mentee's name")).to_have_value("Mia Mentee")
    audit(page)
    took_place = page.get_by_label("Whether it took place, and the receipt")
    expect(took_place).to_contain_text("Receipt: 100.00 USD")
    took_place.fill(took_place.input_value() + " The mentee joined the call.")
    page.get_by_role("button", name="Submit evidence to Stripe").click()
    expect(page.locator(".flash-success")).to_contain_text("submitted to Stripe")
    expect(page.locator("#dispute-status")).to_contain_text("under review")

    txn = db.session.scalar(select(Transaction))
    dispute_id = txn.meta["dispute"]["id"]
    evidence = live_sandbox.client().v1.disputes.retrieve(dispute_id).evidence
    assert evidence.uncategorized_text.endswith("The mentee joined the call.")
    live_sandbox.control(f"disputes/{dispute_id}/close", outcome="won")
    live_sandbox.flush()
    page.reload()
    expect(page.locator("#dispute-summary")).to_contain_text("won, the money came back")
    expect(page.locator("#dispute-summary")).to_contain_text("reinstated $100.00")
    audit(page)
    ledger_is_clean(app)


def _paid(live_portal: LivePortal, coach: User, card: str, *, hours: int) -> None:
    """A mentee books one of the coach's times and pays with `card`."""
    slot = make_slot(coach, hours_from_now=hours)
    mentee = live_portal.browser()
    live_portal.login(mentee, make_user(Role.MENTEE, password=PASSWORD))
    checkout = live_portal.post(mentee, f"/slots/{slot.id}/book", f"/coaches/{coach.id}")
    paid = mentee.post(
        checkout.headers["Location"],
        data={"number": card, "expiry": "12/34", "cvc": "123", "name": "A B"},
        allow_redirects=False,
        timeout=10,
    )
    mentee.get(paid.headers["Location"], timeout=10)


def _paid_out(live_portal: LivePortal, live_sandbox: LiveSandbox, coach: User) -> None:
    """The coach's available balance goes to their bank ("Pay out now")."""
    coach_browser: requests.Session = live_portal.browser()
    live_portal.login(coach_browser, coach)
    form = coach_browser.get(live_portal.url + "/coach/earnings/pay-out", timeout=10).text
    fields = dict(re.findall(r'name="([a-z_]+)" type="hidden" value="([^"]*)"', form))
    coach_browser.post(live_portal.url + "/coach/earnings/pay-out", data=fields, timeout=30)
    live_sandbox.flush()


def _stripe_clock_ahead_by(monkeypatch: pytest.MonkeyPatch, seconds: int) -> None:
    """Stripe's clock is ahead of the portal's: its Checkout must still expire within a day."""
    monkeypatch.setattr(checkout_gateway, "CHECKOUT_LIFETIME", timedelta(seconds=seconds + 3600))


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_a_lost_dispute_is_recovered_from_a_paid_out_coach_and_repaid_by_the_next_earning(
    app: Flask,
    live_sandbox: LiveSandbox,
    live_portal: LivePortal,
    page: Page,
    audit,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # type: ignore[no-untyped-def]
    coach = bookable_coach(live_sandbox, slots=0)  # 100.00 a session, the coach's share 80.00
    admin = make_user(Role.ADMIN, "boss@example.com", password=PASSWORD, name="Boss Admin")
    _paid(live_portal, coach, "4000000000000259", hours=96)  # paid, then disputed
    live_sandbox.advance(TWO_DAYS_AND_A_MINUTE)
    live_sandbox.flush()
    _paid_out(live_portal, live_sandbox, coach)
    db.session.expire_all()
    assert ledger.balances_of(coach.id).available == Decimal("0.00")

    sign_in(page, live_portal, admin, audit=audit)
    page.goto(live_portal.url + "/admin/disputes")
    page.locator("#disputes").get_by_role("link").first.click()
    expect(page.locator("#dispute-status")).to_be_visible()
    txn = db.session.scalar(select(Transaction))
    live_sandbox.control(f"disputes/{txn.meta['dispute']['id']}/close", outcome="lost")
    live_sandbox.flush()
    page.reload()
    expect(page.locator("#dispute-summary")).to_contain_text("lost")
    recover = page.get_by_role("button", name="Recover $80.00 from the coach")
    expect(recover).to_be_visible()  # the amount, before anything is taken
    audit(page)
    recover.click()
    expect(page.locator("#recovered")).to_contain_text("$80.00 of the coach's share was recovered")
    live_sandbox.flush()
    _sign_out(page)

    sign_in(page, live_portal, coach)
    page.goto(live_portal.url + "/coach/earnings")
    expect(page.locator('[data-amount="available"]')).to_contain_text("-$80.00")
    expect(page.locator('#why-no-payout [data-reason="negative"]')).to_contain_text(
        "recovery for a lost dispute"
    )
    expect(page.locator('#why-no-payout [data-reason="negative"]')).to_contain_text(
        "It will be taken from your next earnings before anything is paid out"
    )
    expect(page.get_by_role("link", name="Pay out now")).to_have_count(0)
    audit(page)
    assert balance_disagreements(live_sandbox.client()) == []

    # The next earning repays the 80.00: released, it leaves nothing to pay out.
    _stripe_clock_ahead_by(monkeypatch, TWO_DAYS_AND_A_MINUTE)
    _paid(live_portal, coach, "4242424242424242", hours=168)
    live_sandbox.advance(TWO_DAYS_AND_A_MINUTE)
    live_sandbox.flush()
    page.reload()
    expect(page.locator('[data-amount="available"]')).to_contain_text("$0.00")
    expect(page.locator('#why-no-payout [data-reason="negative"]')).to_have_count(0)
    expect(page.get_by_role("link", name="Pay out now")).to_have_count(0)

    # The one after is paid out, and that payout's page lists the recovery it made good.
    _stripe_clock_ahead_by(monkeypatch, 2 * TWO_DAYS_AND_A_MINUTE)
    _paid(live_portal, coach, "4242424242424242", hours=192)
    live_sandbox.advance(TWO_DAYS_AND_A_MINUTE)
    live_sandbox.flush()
    page.reload()
    page.get_by_role("link", name="Pay out now").click()
    page.get_by_role("button", name="Yes, pay out now").click()
    expect(page.locator(".flash-success")).to_contain_text("Your payout of $80.00 is on its way")
    page.locator("#payouts-rows").get_by_role("link", name="$80.00").first.click()
    lines = page.locator("#payout-lines")
    expect(lines).to_contain_text("Recovered for a lost dispute")
    expect(lines).to_contain_text("-$80.00")
    expect(page.locator('[data-amount="total"]')).to_have_text("$80.00")
    audit(page)
    live_sandbox.flush()
    assert balance_disagreements(live_sandbox.client()) == []
    ledger_is_clean(app)
