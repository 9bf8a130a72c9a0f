"""A dispute in a real browser: the admin opens it from the Disputes page, reads the evidence the
portal prefilled, submits it to Stripe, and sees the bank's decision (won) with Stripe's figures."""

from __future__ import annotations

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import AvailabilitySlot, Role, Transaction
from tests.browser.helpers import bookable_coach, ledger_is_clean, sign_in, table_fits_a_phone
from tests.builders import make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox


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
