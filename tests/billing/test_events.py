"""Billing webhooks posted as Stripe signs them, in the order RELIABILITY 3 names."""

from __future__ import annotations

import copy
import time
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from portal import ledger
from portal.extensions import db
from portal.models import (
    Invoice,
    InvoiceStatus,
    Role,
    Subscription,
    SubscriptionStatus,
    Transaction,
    TransactionStatus,
    TransactionType,
)
from portal.stripe_gateway import billing as billing_gateway
from tests.builders import make_user
from tests.webhooks.payloads import event
from tests.webhooks.signing import PLATFORM_PATH, platform_secret, signed_post


def _subscription(status: str, *, cancel_at_period_end: bool = False) -> dict[str, Any]:
    now = int(time.time())
    return {
        "id": "sub_order",
        "object": "subscription",
        "customer": "cus_order",
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "metadata": {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_order",
                    "object": "subscription_item",
                    "current_period_start": now,
                    "current_period_end": now + 30 * 86400,
                    "quantity": 1,
                    "price": {
                        "id": "price_month",
                        "object": "price",
                        "currency": "usd",
                        "unit_amount": 1900,
                        "unit_amount_decimal": "1900",
                        "recurring": {"interval": "month", "interval_count": 1},
                    },
                }
            ],
        },
    }


def _invoice(status: str) -> dict[str, Any]:
    now = int(time.time())
    return {
        "id": "in_order",
        "object": "invoice",
        "customer": "cus_order",
        "currency": "usd",
        "total": 1900,
        "amount_due": 1900,
        "status": status,
        "due_date": None,
        "next_payment_attempt": None,
        "hosted_invoice_url": "https://invoice.stripe.com/i/in_order",
        "invoice_pdf": "https://pay.stripe.com/invoice/in_order/pdf",
        "status_transitions": {"paid_at": now if status == "paid" else None},
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": "sub_order", "metadata": {}},
        },
    }


def _invoice_payment(status: str = "paid", amount: int = 1900) -> dict[str, Any]:
    return {
        "id": "inpay_order",
        "object": "invoice_payment",
        "amount_paid": amount if status == "paid" else None,
        "amount_requested": amount,
        "currency": "usd",
        "invoice": "in_order",
        "payment": {"type": "payment_intent", "payment_intent": "pi_membership"},
        "status": status,
        "status_transitions": {"paid_at": int(time.time()) if status == "paid" else None},
    }


@pytest.fixture
def stripe_now(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Stripe's current objects, as a retrieve returns them (faked at the gateway); an
    invoice's payments under its id."""
    current: dict[str, Any] = {}
    monkeypatch.setattr(
        billing_gateway, "retrieve_subscription", lambda sid: copy.deepcopy(current[sid])
    )
    monkeypatch.setattr(
        billing_gateway, "invoice_payments", lambda iid: copy.deepcopy(current[iid])
    )
    return current


@pytest.fixture
def customer(app: Flask) -> None:
    user = make_user(Role.MENTEE, "order@example.com")
    user.stripe_customer_id = "cus_order"
    db.session.commit()


def _post(app: Flask, type_: str, obj: dict[str, Any], created: int) -> None:
    client = app.test_client()
    response = signed_post(
        client, PLATFORM_PATH, event(type_, obj, created=created), platform_secret(client)
    )
    assert response.status_code == 200, response.text


def test_subscription_updated_active_before_created_incomplete_leaves_it_active(
    app: Flask, customer: None, stripe_now: dict[str, dict[str, Any]]
) -> None:
    stripe_now["sub_order"] = _subscription("active")
    t = int(time.time())
    _post(app, "customer.subscription.updated", _subscription("active"), t + 5)
    _post(app, "customer.subscription.created", _subscription("incomplete"), t)
    db.session.expire_all()
    [row] = db.session.scalars(db.select(Subscription)).all()
    assert row.status is SubscriptionStatus.ACTIVE
    assert (row.amount, row.currency, row.interval.value) == (Decimal("19.00"), "USD", "month")


def test_invoice_paid_before_finalized_stays_paid_and_links_its_subscription(
    app: Flask, customer: None, stripe_now: dict[str, dict[str, Any]]
) -> None:
    stripe_now["sub_order"] = _subscription("active")
    stripe_now["in_order"] = [_invoice_payment()]
    t = int(time.time())
    _post(app, "invoice.paid", _invoice("paid"), t + 1)
    _post(app, "invoice.finalized", _invoice("open"), t)
    db.session.expire_all()
    [invoice] = db.session.scalars(db.select(Invoice)).all()
    assert invoice.status is InvoiceStatus.PAID and invoice.paid_at is not None
    assert invoice.subscription is not None
    assert invoice.subscription.stripe_subscription_id == "sub_order"


def test_events_for_a_customer_nobody_here_has_are_ignored(app: Flask) -> None:
    _post(app, "invoice.paid", _invoice("paid"), int(time.time()))
    assert db.session.scalars(db.select(Invoice)).all() == []


def test_a_paid_invoice_is_one_membership_payment_with_stripes_amount_however_often_told(
    app: Flask, customer: None, stripe_now: dict[str, Any]
) -> None:
    stripe_now["sub_order"] = _subscription("active")
    # Stripe took 17.10 (a coupon), not the plan's 19.00; a failed try before it is not money.
    stripe_now["in_order"] = [_invoice_payment(amount=1710), _invoice_payment("canceled")]
    t = int(time.time())
    _post(app, "invoice.finalized", _invoice("open"), t)
    assert db.session.scalars(db.select(Transaction)).all() == []
    _post(app, "invoice.paid", _invoice("paid"), t + 1)
    _post(app, "invoice.paid", _invoice("paid"), t + 2)  # another event about the same payment
    db.session.expire_all()
    [txn] = db.session.scalars(db.select(Transaction)).all()
    assert (txn.type, txn.status, txn.amount, txn.currency) == (
        TransactionType.SUBSCRIPTION_PAYMENT,
        TransactionStatus.COMPLETED,
        Decimal("17.10"),
        "USD",
    )
    assert (txn.stripe_payment_intent_id, txn.coach_id) == ("pi_membership", None)
    assert txn.meta == {"invoice": "in_order", "subscription": "sub_order"}
    assert ledger.verify() == []
