"""Through the offline Stripe sandbox: an admin refunds part of a real booking payment with a
double-clicked confirmation (one Stripe refund, its transfer reversed), then reconciles the
day with no mismatch, and opens the payment to see its events."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask

from portal import ledger
from portal.admin import reconciliation
from portal.extensions import db
from portal.models import RefundStatus, Role, Transaction, TransactionStatus
from tests.builders import make_slot, make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox, live_portal, live_sandbox, onboard_coach

__all__ = ["live_portal", "live_sandbox"]


def _paid_booking(live_portal: LivePortal, live_sandbox: LiveSandbox) -> Transaction:
    coach = make_user(Role.COACH, password=PASSWORD, session_price=Decimal("100.00"))
    onboard_coach(live_sandbox, coach)
    slot = make_slot(coach, hours_from_now=72)
    browser = live_portal.browser()
    live_portal.login(browser, make_user(Role.MENTEE, password=PASSWORD))
    checkout = live_portal.post(browser, f"/slots/{slot.id}/book", f"/coaches/{coach.id}")
    paid = browser.post(
        checkout.headers["Location"],
        data={"number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123", "name": "A B"},
        allow_redirects=False,
        timeout=10,
    )
    browser.get(paid.headers["Location"], timeout=10)
    live_sandbox.flush()
    db.session.expire_all()
    return db.session.scalars(db.select(Transaction)).one()


def test_admin_refunds_part_of_a_sandbox_payment_once_and_stripe_agrees(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    txn = _paid_booking(live_portal, live_sandbox)
    admin = make_user(Role.ADMIN, password=PASSWORD)
    browser = live_portal.browser()
    live_portal.login(browser, admin)
    page = f"/admin/transactions/{txn.id}/refund"
    review = live_portal.post(browser, page, page, amount="40.00", reason="Late start")
    assert review.status_code == 200, review.text
    fields = dict(
        re.findall(
            r'name="(amount|reason|token|csrf_token)" type="hidden" value="([^"]*)"', review.text
        )
    )
    confirm = f"{live_portal.url}/admin/transactions/{txn.id}/refund/confirm"
    first = browser.post(confirm, data=fields, allow_redirects=False, timeout=30)
    second = browser.post(confirm, data=fields, allow_redirects=False, timeout=30)
    assert first.status_code == second.status_code == 303
    live_sandbox.flush()

    stripe = live_sandbox.client()
    [stripe_refund] = stripe.v1.refunds.list(
        params={"payment_intent": txn.stripe_payment_intent_id}
    ).data
    assert stripe_refund.amount == 4000 and stripe_refund.transfer_reversal
    db.session.expire_all()
    txn = db.session.get(Transaction, txn.id)
    [refund] = txn.refunds
    assert (refund.status, refund.stripe_refund_id) == (RefundStatus.SUCCEEDED, stripe_refund.id)
    assert (refund.platform_fee_refunded, refund.coach_share_reversed) == (
        Decimal("8.00"),
        Decimal("32.00"),
    )
    assert txn.status is TransactionStatus.PARTIALLY_REFUNDED
    assert ledger.verify() == []

    detail = browser.get(f"{live_portal.url}/admin/transactions/{txn.id}", timeout=10).text
    assert "checkout.session.completed" in detail and "charge.refunded" in detail
    assert "dashboard.stripe.com" not in detail  # the sandbox is not Stripe's dashboard

    today = datetime.now(UTC).date()
    with live_portal.app.app_context():
        report = reconciliation.reconcile(today, today)
    assert report.mismatches == [], [str(m) for m in report.mismatches]
    assert report.compared["payments"] == 1 and report.compared["refunds"] == 1
