"""Through the offline Stripe sandbox: a mentee pays for a membership, and the admin finds the
payment under "subscription payment", exports it, and reconciles it against Stripe's charge."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask

from portal import ledger
from portal.admin import reconciliation
from portal.billing import membership
from portal.extensions import db
from portal.models import Invoice, Role, Transaction, TransactionStatus, TransactionType
from tests.billing.conftest import signed_in_mentee, subscribe
from tests.builders import make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox, live_portal, live_sandbox

__all__ = ["live_portal", "live_sandbox"]


def test_a_membership_payment_is_listed_exported_and_reconciled_like_a_session_payment(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, mentee_browser = signed_in_mentee(live_portal)
    subscribe(live_portal, mentee_browser)
    live_sandbox.flush()

    db.session.expire_all()
    [txn] = db.session.scalars(db.select(Transaction)).all()
    [invoice] = db.session.scalars(db.select(Invoice)).all()
    [charge] = live_sandbox.client().v1.charges.list().data
    assert (txn.type, txn.status, txn.amount, txn.currency) == (
        TransactionType.SUBSCRIPTION_PAYMENT,
        TransactionStatus.COMPLETED,
        Decimal("19.00"),
        "USD",
    )
    assert txn.stripe_payment_intent_id == charge.payment_intent and charge.amount == 1900
    assert (txn.payer_id, txn.coach_id, txn.session_id) == (mentee.id, None, None)
    assert (txn.platform_fee, txn.coach_share) == (Decimal("19.00"), Decimal("0.00"))
    assert txn.meta["invoice"] == invoice.stripe_invoice_id
    with live_portal.app.app_context():  # told again: still one transaction
        assert membership.record_payments(db.session.merge(invoice)) == []
    assert ledger.verify() == []

    admin = make_user(Role.ADMIN, password=PASSWORD)
    browser = live_portal.browser()
    live_portal.login(browser, admin)
    listing = browser.get(
        f"{live_portal.url}/admin/transactions?type=subscription_payment", timeout=10
    ).text
    assert f'id="txn-{txn.id}"' in listing and mentee.email in listing
    assert "1 transaction match" in listing and "$19.00" in listing

    shown = browser.get(f"{live_portal.url}/admin/transactions/{txn.id}", timeout=10).text
    assert invoice.stripe_invoice_id in shown and "Refund…" not in shown

    export = browser.get(
        f"{live_portal.url}/admin/transactions/export.csv?type=subscription_payment", timeout=10
    )
    [row] = list(csv.DictReader(io.StringIO(export.text)))
    assert (row["id"], row["type"], row["amount"], row["payer_email"]) == (
        str(txn.id),
        "subscription_payment",
        "19.00",
        mentee.email,
    )
    assert row["stripe_payment_intent_id"] == charge.payment_intent

    today = datetime.now(UTC).date()
    with live_portal.app.app_context():
        report = reconciliation.reconcile(today, today)
    assert report.mismatches == [], [str(m) for m in report.mismatches]
    assert report.compared["membership payments"] == 1
