"""The webhook event log, its payload view, reprocessing a failed event once, and the
needs-attention page."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import (
    AuditLog,
    Booking,
    EventStatus,
    PaymentStatus,
    Payout,
    PayoutStatus,
    SessionStatus,
    StripeEvent,
    Transaction,
    User,
)
from tests.admin.conftest import day, payment, post_form
from tests.builders import make_connected_account


def _stored(
    event_id: str, type_: str, obj: dict, status: EventStatus, **extra: object
) -> StripeEvent:
    payload = {"id": event_id, "type": type_, "created": 1_700_000_000, "data": {"object": obj}}
    row = StripeEvent(
        stripe_event_id=event_id,
        type=type_,
        payload=payload,
        status=status,
        **StripeEvent.related_ids(payload),
        **extra,
    )
    db.session.add(row)
    db.session.commit()
    return row


def _dispute(intent: str) -> dict:
    return {
        "id": "du_123",
        "object": "dispute",
        "payment_intent": intent,
        "amount": 5000,
        "currency": "usd",
        "status": "needs_response",
        "reason": "fraudulent",
    }


def test_event_log_lists_filters_and_shows_an_escaped_payload(
    admin_client: FlaskClient, app: Flask
) -> None:
    _stored("evt_ok", "payout.paid", {"id": "po_1"}, EventStatus.PROCESSED)
    _stored(
        "evt_bad",
        "charge.refunded",
        {"id": "ch_1", "description": "<script>alert(1)</script>"},
        EventStatus.FAILED,
        error="RuntimeError: boom",
        attempts=3,
    )
    everything = admin_client.get("/admin/events")
    assert "evt_ok" in everything.text and "evt_bad" in everything.text
    failed = admin_client.get("/admin/events?status=failed")
    assert "evt_bad" in failed.text and "evt_ok" not in failed.text
    assert "RuntimeError: boom" in failed.text
    by_type = admin_client.get("/admin/events?type=payout.paid", headers={"HX-Request": "true"})
    assert (
        "evt_ok" in by_type.text and "evt_bad" not in by_type.text and "<html" not in by_type.text
    )
    detail = admin_client.get("/admin/events/evt_bad")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail.text
    assert "<script>alert(1)" not in detail.text
    assert '"type": "charge.refunded"' in detail.text.replace("&#34;", '"')
    assert "Reprocess" in detail.text
    assert "Reprocess" not in admin_client.get("/admin/events/evt_ok").text
    assert admin_client.get("/admin/events/evt_missing").status_code == 404


def test_reprocessing_a_failed_event_applies_it_once_and_is_audited(
    admin_client: FlaskClient, admin: User, coach: User, mentee: User
) -> None:
    txn = payment(mentee, coach, "50.00", intent="pi_disputed")
    _stored(
        "evt_dispute",
        "charge.dispute.created",
        _dispute("pi_disputed"),
        EventStatus.FAILED,
        error="OperationalError: database was locked",
        attempts=1,
    )
    response = post_form(admin_client, "/admin/events/evt_dispute/reprocess")
    assert response.status_code == 303
    db.session.expire_all()
    row = db.session.scalar(
        sa.select(StripeEvent).where(StripeEvent.stripe_event_id == "evt_dispute")
    )
    assert row.status is EventStatus.PROCESSED and row.error is None and row.attempts == 2
    assert db.session.get(Transaction, txn.id).meta["dispute"]["reason"] == "fraudulent"

    again = post_form(admin_client, "/admin/events/evt_dispute/reprocess")
    assert "nothing changed" in admin_client.get(again.headers["Location"]).text
    db.session.expire_all()
    assert (
        db.session.scalar(
            sa.select(StripeEvent.attempts).where(StripeEvent.stripe_event_id == "evt_dispute")
        )
        == 2
    )
    audits = db.session.scalars(
        sa.select(AuditLog)
        .where(AuditLog.action == "stripe_event.reprocessed")
        .order_by(AuditLog.id)
    ).all()
    assert [(a.actor_id, a.before["status"], a.after["outcome"]) for a in audits] == [
        (admin.id, "failed", "processed"),
        (admin.id, "processed", "duplicate"),
    ]


def test_reprocess_needs_the_csrf_token_and_a_known_event(admin_client: FlaskClient) -> None:
    _stored("evt_x", "payout.paid", {"id": "po_x"}, EventStatus.FAILED)
    assert admin_client.post("/admin/events/evt_x/reprocess").status_code == 400
    assert post_form(admin_client, "/admin/events/evt_nope/reprocess").status_code == 404
    assert db.session.scalars(sa.select(AuditLog)).all() == []


def test_needs_attention_lists_disputes_failures_and_failed_events(
    admin_client: FlaskClient, coach: User, mentee: User
) -> None:
    disputed = payment(
        mentee,
        coach,
        "40.00",
        intent="pi_d",
        meta={"dispute": {"id": "du_9", "status": "needs_response", "reason": "fraudulent"}},
    )
    quiet = payment(mentee, coach, "41.00", intent="pi_quiet", meta={"receipt_url": "https://x"})
    account = make_connected_account(coach)
    db.session.add(
        Payout(
            stripe_payout_id="po_failed",
            amount=Decimal("12.00"),
            currency="USD",
            status=PayoutStatus.FAILED,
            user_id=coach.id,
            connected_account_id=account.id,
            meta={"failure_message": "The bank account has been closed."},
        )
    )
    db.session.add(
        Booking(
            coach_id=coach.id,
            mentee_id=mentee.id,
            starts_at=day(20),
            status=SessionStatus.PENDING_PAYMENT,
            payment_status=PaymentStatus.FAILED,
            price_amount=Decimal("40.00"),
            platform_fee_amount=Decimal("8.00"),
            coach_share=Decimal("32.00"),
        )
    )
    db.session.commit()
    _stored("evt_broken", "payout.paid", {"id": "po_y"}, EventStatus.FAILED, error="KeyError: x")
    page = admin_client.get("/admin/attention")
    assert page.status_code == 200
    assert (
        f"Transaction {disputed.id}</a>" in page.text
        and f"Transaction {quiet.id}<" not in page.text
    )
    assert "The bank account has been closed." in page.text
    assert "the card was declined" in page.text
    assert "evt_broken" in page.text and "KeyError: x" in page.text
