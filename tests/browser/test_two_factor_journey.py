"""A new admin's first sign-in in a real browser: sent to set up two-factor sign-in, scans (here:
reads) the key from the page, types the app's code, keeps the recovery codes, and must give the
password and a fresh code before refunding a payment."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pyotp
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import AvailabilitySlot, Role, Transaction
from tests.browser.helpers import book_and_pay, bookable_coach
from tests.builders import make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox


def _next_code(totp: pyotp.TOTP, used: str) -> str:
    """The app's next code: each code works once, so the person waits for the app to change."""
    used_step = totp.timecode(datetime.now(UTC))
    while totp.timecode(datetime.now(UTC)) <= used_step or totp.now() == used:
        time.sleep(0.5)
    return totp.now()


def test_a_new_admin_sets_up_two_factor_and_gives_a_code_to_refund(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, page: Page, audit
) -> None:
    coach = bookable_coach(live_sandbox, slots=1)
    mentee = make_user(Role.MENTEE, "mia@example.com", password=PASSWORD, name="Mia Mentee")
    admin = make_user(Role.ADMIN, "new.admin@example.com", password=PASSWORD, two_factor=False)
    slot_id = db.session.scalar(
        select(AvailabilitySlot.id).where(AvailabilitySlot.coach_id == coach.id)
    )
    book_and_pay(live_portal, mentee, coach, slot_id)
    live_sandbox.flush()

    page.goto(live_portal.url + "/account/login")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    audit(page)
    key = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    totp = pyotp.TOTP(key)  # the person's authenticator app, holding the key from the page
    enrol_code = totp.now()
    page.get_by_label("Code from your app").fill(enrol_code)
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_role("heading", name="Two-factor sign-in is on")).to_be_visible()
    expect(page.get_by_role("list", name="Recovery codes").locator("li")).to_have_count(10)
    audit(page)
    page.get_by_role("link", name="I have saved them, continue").click()

    page.goto(live_portal.url + "/admin/transactions")
    page.locator("#transactions tbody tr").first.get_by_role("link").click()
    page.get_by_role("link", name="Refund…").click()
    # The sign-in vouched for the password alone: refunding asks for the password and a code.
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    audit(page)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code").fill(enrol_code)  # the code already used to enrol
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("That code is not right")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code").fill(_next_code(totp, enrol_code))
    page.get_by_role("button", name="Confirm").click()

    page.get_by_label("Amount", exact=False).fill("40.00")  # back on the refund form
    page.get_by_label("Reason", exact=False).fill("The coach ended the session early")
    page.get_by_role("button", name="Review refund").click()
    page.get_by_role("button", name="Refund now").click()
    expect(page.locator(".flash-success")).to_be_visible()
    live_sandbox.flush()

    payment = db.session.scalar(select(Transaction))
    db.session.refresh(payment)
    assert [refund.amount for refund in payment.refunds] == [Decimal("40.00")]
