"""Refunds from the admin area: preview, confirm, partial then full, over-refund refused,
a double click makes one Stripe refund; plus the transaction page an admin refunds from."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal import ledger
from portal.bookings import cancellation
from portal.extensions import db
from portal.models import (
    AuditLog,
    EventStatus,
    LedgerEntry,
    LedgerEntryKind,
    Refund,
    RefundStatus,
    Role,
    StripeEvent,
    Transaction,
    TransactionStatus,
    User,
)
from tests.admin.conftest import day, payment, post_form
from tests.builders import make_user
from tests.stripe_fake import FakeStripe
from tests.webhooks import payloads
from tests.webhooks.payloads import event
from tests.webhooks.signing import PLATFORM_PATH, platform_secret, signed_post


@pytest.fixture
def paid(app: Flask, coach: User, mentee: User) -> Transaction:
    txn = payment(
        mentee, coach, "100.00", at=day(1), intent="pi_paid", stripe_transfer_id="tr_paid"
    )
    ledger.record_payment(txn)
    db.session.commit()
    return txn


def _review(
    client: FlaskClient, txn: Transaction, amount: str, reason: str = "Coach no-show"
) -> Any:
    return post_form(client, f"/admin/transactions/{txn.id}/refund", amount=amount, reason=reason)


def _confirm_fields(page_text: str) -> dict[str, str]:
    fields = dict(
        re.findall(r'name="(amount|reason|token)" type="hidden" value="([^"]*)"', page_text)
    )
    fields.update(
        {n: v for v, n in re.findall(r'value="([^"]*)" name="(amount|reason|token)"', page_text)}
    )
    assert set(fields) >= {"amount", "reason", "token"}, page_text
    return fields


def _confirm(client: FlaskClient, txn: Transaction, fields: dict[str, str]) -> Any:
    return post_form(client, f"/admin/transactions/{txn.id}/refund/confirm", **fields)


def _refunds(txn: Transaction) -> list[Refund]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(Refund).where(Refund.transaction_id == txn.id).order_by(Refund.id)
        )
    )


def test_partial_then_full_refund_splits_fee_and_share_and_moves_the_ledger(
    admin_client: FlaskClient, paid: Transaction, stripe_fake: FakeStripe, admin: User
) -> None:
    review = _review(admin_client, paid, "30.00")
    assert review.status_code == 200
    assert 'data-amount="fee">$6.00' in review.text and 'data-amount="coach">$24.00' in review.text
    assert _refunds(paid) == []  # reviewing changes nothing
    done = _confirm(admin_client, paid, _confirm_fields(review.text))
    assert done.status_code == 303 and done.headers["Location"] == f"/admin/transactions/{paid.id}"
    [first] = _refunds(paid)
    assert (first.amount, first.platform_fee_refunded, first.coach_share_reversed) == (
        Decimal("30.00"),
        Decimal("6.00"),
        Decimal("24.00"),
    )
    assert first.status is RefundStatus.SUCCEEDED and first.requested_by_id == admin.id
    assert db.session.get(Transaction, paid.id).status is TransactionStatus.PARTIALLY_REFUNDED

    review = _review(admin_client, paid, "")  # empty: all that is left
    assert 'data-amount="amount">$70.00' in review.text
    _confirm(admin_client, paid, _confirm_fields(review.text))
    first, second = _refunds(paid)
    assert (second.amount, second.platform_fee_refunded, second.coach_share_reversed) == (
        Decimal("70.00"),
        Decimal("14.00"),
        Decimal("56.00"),
    )
    assert db.session.get(Transaction, paid.id).status is TransactionStatus.REFUNDED
    reversed_total = db.session.scalar(
        sa.select(sa.func.sum(LedgerEntry.total_delta)).where(
            LedgerEntry.kind == LedgerEntryKind.REFUND
        )
    )
    assert reversed_total == Decimal("-80.00")
    assert ledger.verify() == []
    audits = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "transaction.refund_requested")
    ).all()
    assert [a.after["amount"] for a in audits] == ["30.00", "70.00"]
    assert audits[0].before == {"status": "completed", "refunded_or_pending": "0.00"}
    page = admin_client.get(f"/admin/transactions/{paid.id}")
    assert "Refund…" not in page.text  # nothing left to refund
    assert "re_test_" in page.text and "Coach no-show" in page.text


def test_over_refund_is_refused_with_a_message_and_changes_nothing(
    admin_client: FlaskClient, paid: Transaction, stripe_fake: FakeStripe
) -> None:
    _confirm(admin_client, paid, _confirm_fields(_review(admin_client, paid, "40.00").text))
    refused = _review(admin_client, paid, "60.01")
    assert refused.status_code == 400
    assert "refund at most" in refused.text and "60.00" in refused.text
    # a forged confirmation for too much is refused by the same rule
    fields = {"amount": "60.01", "reason": "forged", "token": "f" * 32}
    response = _confirm(admin_client, paid, fields)
    assert response.status_code == 303
    assert "refund at most" in admin_client.get(response.headers["Location"]).text
    assert [r.amount for r in _refunds(paid)] == [Decimal("40.00")]
    assert stripe_fake.count("refunds.create") == 1


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [
        ("0", "x", "above zero"),
        ("abc", "x", "plain digits"),
        ("10", "", "Say why"),
        ("10.001", "x", "decimal places"),
        ("sNaN", "x", "plain digits"),
        ("Infinity", "x", "plain digits"),
        ("1e30", "x", "plain digits"),
        ("1" * 25, "x", "below 100,000,000"),
        ("\u00b2", "x", "plain digits"),
        ("10", "late\x00", "control character"),
    ],
)
def test_bad_refund_input_is_refused(
    admin_client: FlaskClient,
    paid: Transaction,
    stripe_fake: FakeStripe,
    amount: str,
    reason: str,
    message: str,
) -> None:
    response = _review(admin_client, paid, amount, reason)
    assert response.status_code == 400 and message in response.text
    assert _refunds(paid) == [] and stripe_fake.count("refunds.create") == 0


def test_a_refund_of_one_cent_is_offered_for_confirmation(
    admin_client: FlaskClient, paid: Transaction, stripe_fake: FakeStripe
) -> None:
    response = _review(admin_client, paid, "0.01")
    assert response.status_code == 200, response.text
    assert 'name="amount" type="hidden" value="0.01"' in response.text
    assert _refunds(paid) == [] and stripe_fake.count("refunds.create") == 0


def test_a_double_clicked_confirmation_makes_one_refund_at_stripe(
    admin_client: FlaskClient, paid: Transaction, stripe_fake: FakeStripe
) -> None:
    fields = _confirm_fields(_review(admin_client, paid, "25.00").text)
    first = _confirm(admin_client, paid, fields)
    second = _confirm(admin_client, paid, fields)
    assert first.status_code == second.status_code == 303
    [refund] = _refunds(paid)
    assert refund.amount == Decimal("25.00") and refund.status is RefundStatus.SUCCEEDED
    assert stripe_fake.count("refunds.create") == 1
    assert len(stripe_fake.refunds) == 1


def test_stripe_down_leaves_the_refund_pending_and_a_retry_uses_the_same_refund(
    admin_client: FlaskClient, paid: Transaction, stripe_fake: FakeStripe
) -> None:
    stripe_fake.fail_next = True
    fields = _confirm_fields(_review(admin_client, paid, "").text)
    response = _confirm(admin_client, paid, fields)
    page = admin_client.get(response.headers["Location"])
    assert "Stripe did not take it yet" in page.text
    [refund] = _refunds(paid)
    assert refund.status is RefundStatus.PENDING
    _confirm(admin_client, paid, fields)  # the same confirmation again: the same refund
    [refund] = _refunds(paid)
    assert refund.status is RefundStatus.SUCCEEDED
    assert list(stripe_fake.refunds) == [refund.stripe_refund_id]
    assert len(set(stripe_fake.keys_of("refunds.create"))) == 1


def test_a_failed_payment_offers_no_refund_and_refuses_one(
    admin_client: FlaskClient, coach: User, mentee: User, stripe_fake: FakeStripe
) -> None:
    failed = payment(mentee, coach, "10.00", intent="pi_failed", status=TransactionStatus.FAILED)
    assert "Refund…" not in admin_client.get(f"/admin/transactions/{failed.id}").text
    response = _review(admin_client, failed, "5")
    assert response.status_code == 400 and "cannot be refunded" in response.text


# --- the detail page ----------------------------------------------------------------------------


def _event(event_id: str, type_: str, obj: dict, created: int) -> StripeEvent:
    from datetime import UTC, datetime

    payload = {"id": event_id, "type": type_, "created": created, "data": {"object": obj}}
    row = StripeEvent(
        stripe_event_id=event_id,
        type=type_,
        payload=payload,
        status=EventStatus.PROCESSED,
        stripe_created_at=datetime.fromtimestamp(created, UTC),
        **StripeEvent.related_ids(payload),
    )
    db.session.add(row)
    return row


def test_detail_shows_parties_discount_events_in_order_and_test_mode_dashboard_links(
    app: Flask, admin_client: FlaskClient, coach: User, mentee: User
) -> None:
    txn = payment(
        mentee,
        coach,
        "90.00",
        fee="10",
        intent="pi_detail",
        stripe_transfer_id="tr_detail",
        meta={
            "member_discount": "10.00",
            "member_discount_percentage": "10",
            "list_price": "100.00",
            "dispute": {
                "id": "du_1",
                "status": "needs_response",
                "reason": "fraudulent",
                "amount": "90.00",
                "currency": "USD",
                "closed": False,
            },
        },
    )
    _event("evt_later", "charge.refunded", {"id": "ch_1", "payment_intent": "pi_detail"}, 2_000)
    _event("evt_first", "payment_intent.succeeded", {"id": "pi_detail"}, 1_000)
    _event("evt_dispute", "charge.dispute.created", {"id": "du_1", "charge": "ch_1"}, 3_000)
    _event("evt_other", "payment_intent.succeeded", {"id": "pi_someone_else"}, 1_500)
    db.session.commit()
    app.config.update(STRIPE_SECRET_KEY="sk_test_123", STRIPE_API_BASE="")
    page = admin_client.get(f"/admin/transactions/{txn.id}")
    assert page.status_code == 200
    text = page.text
    assert mentee.email in text and coach.email in text
    assert 'data-amount="list_price">100.00 USD' in text and "(10%)" in text
    assert re.findall(r"<code>(evt_\w+)</code>", text) == ["evt_first", "evt_later", "evt_dispute"]
    assert 'href="https://dashboard.stripe.com/test/payments/pi_detail"' in text
    assert 'href="https://dashboard.stripe.com/test/connect/transfers/tr_detail"' in text
    assert "fraudulent" in text
    assert "Stripe API version" not in text  # shown once, on the System page

    app.config.update(STRIPE_SECRET_KEY="sk_live_123")
    assert (
        'href="https://dashboard.stripe.com/payments/pi_detail"'
        in admin_client.get(f"/admin/transactions/{txn.id}").text
    )
    app.config.update(STRIPE_API_BASE="http://127.0.0.1:12111", STRIPE_SECRET_KEY="sk_test_x")
    offline = admin_client.get(f"/admin/transactions/{txn.id}").text
    assert "dashboard.stripe.com" not in offline and "<code>pi_detail</code>" in offline


def test_detail_of_a_missing_transaction_is_not_found(admin_client: FlaskClient) -> None:
    assert admin_client.get("/admin/transactions/999").status_code == 404
    assert admin_client.get("/admin/transactions/999/refund").status_code == 404


def test_refund_pages_are_for_admins_only(app: Flask, paid: Transaction) -> None:
    from tests.admin.conftest import signed_in

    for role in (Role.MENTEE, Role.COACH):
        client = signed_in(app, make_user(role))
        assert client.get(f"/admin/transactions/{paid.id}/refund").status_code == 403
        assert (
            post_form(
                client, f"/admin/transactions/{paid.id}/refund/confirm", amount="1"
            ).status_code
            == 403
        )


def test_a_six_cent_refund_of_120_and_then_the_rest_are_exact_on_either_database(
    admin_client: FlaskClient, coach: User, mentee: User, stripe_fake: FakeStripe
) -> None:
    # 0.01 + 0.05 is not 0.06 in floating point, which is how SQLite adds NUMERIC values.
    txn = payment(mentee, coach, "120.00", at=day(1), intent="pi_120", stripe_transfer_id="tr_120")
    ledger.record_payment(txn)
    db.session.commit()
    for amount in ("0.06", "0.07", ""):  # "": all that is left
        review = _review(admin_client, txn, amount)
        assert review.status_code == 200, review.text
        assert _confirm(admin_client, txn, _confirm_fields(review.text)).status_code == 303
    refunds = _refunds(txn)
    assert [r.amount for r in refunds] == [Decimal("0.06"), Decimal("0.07"), Decimal("119.87")]
    assert all(r.status is RefundStatus.SUCCEEDED for r in refunds)
    assert db.session.get(Transaction, txn.id).status is TransactionStatus.REFUNDED
    assert ledger.verify() == []


def test_a_disputed_payment_is_refused_a_refund_with_stripes_reason(
    admin_client: FlaskClient, client: FlaskClient, paid: Transaction, stripe_fake: FakeStripe
) -> None:
    dispute = event("charge.dispute.created", payloads.dispute("pi_paid", 10000))
    assert signed_post(client, PLATFORM_PATH, dispute, platform_secret(client)).status_code == 200
    page = admin_client.get(f"/admin/transactions/{paid.id}").text
    assert "Refund…" not in page
    assert "Refunds are refused while this payment is disputed (Stripe: charge_disputed)" in page
    refused = _review(admin_client, paid, "10.00")
    assert refused.status_code == 400 and "charge_disputed" in refused.text
    forged = {"amount": "10.00", "reason": "forged", "token": "d" * 32}
    response = _confirm(admin_client, paid, forged)
    assert response.status_code == 303
    assert "charge_disputed" in admin_client.get(response.headers["Location"]).text
    assert _refunds(paid) == [] and stripe_fake.count("refunds.create") == 0


def test_a_refund_another_event_recorded_meanwhile_settles_the_payment(
    app: Flask, paid: Transaction, stripe_fake: FakeStripe
) -> None:
    """A refund made in Stripe's dashboard: this event read the payment's refunds (none yet)
    before another event about the refund recorded it, pending, and committed. Stripe now says
    it succeeded: the payment is refunded, though the list this event read did not hold it."""
    assert paid.refunds == []
    recorded = db.session.scalars(
        sa.insert(Refund)
        .values(
            transaction_id=paid.id,
            stripe_refund_id="re_dashboard",
            status=RefundStatus.PENDING,
            amount=paid.amount,
            currency=paid.currency,
            platform_fee_refunded=Decimal("0.00"),
            coach_share_reversed=Decimal("0.00"),
            reason="Refunded at Stripe",
        )
        .returning(Refund)
    ).one()
    stripe_fake.refunds["re_dashboard"] = stripe_fake.splits.made(
        recorded,
        {
            "id": "re_dashboard",
            "object": "refund",
            "status": "succeeded",
            "amount": 10_000,
            "payment_intent": paid.stripe_payment_intent_id,
        },
    )

    cancellation.sync_refund("re_dashboard")

    assert recorded.status is RefundStatus.SUCCEEDED
    assert paid.status is TransactionStatus.REFUNDED
    assert ledger.verify() == []
