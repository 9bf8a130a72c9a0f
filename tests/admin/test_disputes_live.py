"""Through the offline Stripe sandbox: a mentee's bank disputes a booking's payment; the admin
sees it in the dispute workspace with its deadline, submits the prefilled evidence to Stripe,
and the bank's decision, the funds Stripe moved and its fee reach the portal and agree with
Stripe in reconciliation."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask

from portal.admin import reconciliation
from portal.extensions import db
from portal.models import AuditLog, Role, Transaction
from tests.builders import make_slot, make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox, live_portal, live_sandbox, onboard_coach

__all__ = ["live_portal", "live_sandbox"]

DISPUTED_CARD = "4000 0000 0000 0259"


def _disputed_booking(live_portal: LivePortal, live_sandbox: LiveSandbox) -> Transaction:
    coach = make_user(Role.COACH, password=PASSWORD, session_price=Decimal("100.00"))
    onboard_coach(live_sandbox, coach)
    slot = make_slot(coach, hours_from_now=72)
    browser = live_portal.browser()
    live_portal.login(browser, make_user(Role.MENTEE, password=PASSWORD, name="Mia Mentee"))
    checkout = live_portal.post(browser, f"/slots/{slot.id}/book", f"/coaches/{coach.id}")
    paid = browser.post(
        checkout.headers["Location"],
        data={"number": DISPUTED_CARD, "expiry": "12/34", "cvc": "123", "name": "A B"},
        allow_redirects=False,
        timeout=10,
    )
    browser.get(paid.headers["Location"], timeout=10)
    live_sandbox.flush()
    db.session.expire_all()
    return db.session.scalars(db.select(Transaction)).one()


def _admin(live_portal: LivePortal) -> tuple[object, str]:
    browser = live_portal.browser()
    live_portal.login(browser, make_user(Role.ADMIN, password=PASSWORD))
    return browser, live_portal.url


def _form_values(page: str) -> dict[str, str]:
    inputs = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', page))
    areas = dict(re.findall(r'<textarea[^>]*name="([a-z_]+)"[^>]*>\s*([^<]*)</textarea>', page))
    return {k: html.unescape(v) for k, v in {**inputs, **areas}.items() if k != "submit"}


def test_admin_submits_prefilled_evidence_and_the_won_dispute_agrees_with_stripe(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    txn = _disputed_booking(live_portal, live_sandbox)
    browser, url = _admin(live_portal)

    listing = browser.get(f"{url}/admin/disputes", timeout=10).text
    assert "fraudulent" in listing and "$100.00" in listing
    assert re.search(r"[67] days? \d+ hours? left", listing), listing

    page = f"/admin/disputes/{txn.id}"
    form = _form_values(browser.get(url + page, timeout=10).text)
    booking = txn.session
    assert form["customer_name"] == "Mia Mentee"
    assert form["service_date"] == f"{booking.starts_at:%Y-%m-%d}"
    assert booking.coach.name in form["product_description"]
    assert "24 hours" in form["cancellation_policy_disclosure"]
    assert "still to come" in form["uncategorized_text"]
    assert txn.stripe_payment_intent_id in form["uncategorized_text"]

    form["uncategorized_text"] += " The mentee joined the call."
    first = browser.post(url + page, data=form, allow_redirects=False, timeout=30)
    again = browser.post(url + page, data=form, allow_redirects=False, timeout=30)
    assert first.status_code == 303, first.text
    assert again.status_code == 303  # refused with a message, nothing sent twice
    assert "submitted already" in browser.get(url + page, timeout=10).text

    stripe = live_sandbox.client()
    dispute_id = txn.meta["dispute"]["id"]
    at_stripe = stripe.v1.disputes.retrieve(dispute_id)
    assert at_stripe.status == "under_review"
    assert at_stripe.evidence_details.submission_count == 1
    assert at_stripe.evidence.customer_name == "Mia Mentee"
    assert at_stripe.evidence.uncategorized_text.endswith("The mentee joined the call.")
    assert (
        db.session.scalar(
            db.select(db.func.count()).where(AuditLog.action == "dispute.evidence_submitted")
        )
        == 1
    )

    live_sandbox.control(f"disputes/{dispute_id}/close", outcome="won")
    live_sandbox.flush()
    db.session.expire_all()
    flag = db.session.get(Transaction, txn.id).meta["dispute"]
    assert (flag["status"], flag["closed"]) == ("won", True)
    assert (flag["withdrawn"], flag["reinstated"], flag["fee"]) == ("100.00", "100.00", "15.00")
    shown = browser.get(url + page, timeout=10).text
    assert "won, the money came back" in shown and "Submit evidence" not in shown

    today = datetime.now(UTC).date()
    with live_portal.app.app_context():
        report = reconciliation.reconcile(today, today)
    assert report.mismatches == [], [str(m) for m in report.mismatches]
    assert report.compared["disputes"] == 1


def test_a_lost_dispute_shows_its_funds_and_a_closed_dispute_takes_no_evidence(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    txn = _disputed_booking(live_portal, live_sandbox)
    dispute_id = txn.meta["dispute"]["id"]
    browser, url = _admin(live_portal)
    page = f"/admin/disputes/{txn.id}"
    form = _form_values(browser.get(url + page, timeout=10).text)

    live_sandbox.control(f"disputes/{dispute_id}/close", outcome="lost")
    live_sandbox.flush()
    db.session.expire_all()
    flag = db.session.get(Transaction, txn.id).meta["dispute"]
    assert (flag["status"], flag["withdrawn"], flag["reinstated"]) == ("lost", "100.00", "0.00")

    late = browser.post(url + page, data=form, allow_redirects=False, timeout=30)
    assert late.status_code == 303
    assert "takes no more evidence" in browser.get(url + page, timeout=10).text
    assert (
        live_sandbox.client().v1.disputes.retrieve(dispute_id).evidence_details.submission_count
        == 0
    )

    today = datetime.now(UTC).date()
    with live_portal.app.app_context():
        report = reconciliation.reconcile(today, today)
    assert report.mismatches == [], [str(m) for m in report.mismatches]
