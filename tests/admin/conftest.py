"""Helpers for the admin tests: signed-in clients, forms with their CSRF token, dated payments."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import Transaction, TransactionStatus, TransactionType, User
from portal.money import split_fee
from tests.conftest import csrf_token, login


def signed_in(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    login(client, user)
    return client


def post_form(client: FlaskClient, url: str, **data: Any) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client), **data})


def payment(
    payer: User,
    coach: User | None,
    price: str,
    *,
    at: datetime | None = None,
    fee: str = "20",
    currency: str = "USD",
    status: TransactionStatus = TransactionStatus.COMPLETED,
    type_: TransactionType = TransactionType.SESSION_PAYMENT,
    intent: str | None = None,
    **extra: Any,
) -> Transaction:
    """A transaction row with an exact fee split, created at `at` (committed)."""
    split = split_fee(Decimal(price), Decimal(fee), currency)
    txn = Transaction(
        type=type_,
        status=status,
        amount=split.price,
        currency=currency,
        platform_fee=split.platform_fee,
        coach_share=split.coach_share,
        payer_id=payer.id,
        coach_id=coach.id if coach else None,
        stripe_payment_intent_id=intent,
        **extra,
    )
    if at is not None:
        txn.created_at = at
        txn.updated_at = at
    db.session.add(txn)
    db.session.commit()
    return txn


def day(d: int, hour: int = 12, second: int = 0) -> datetime:
    return datetime(2026, 3, d, hour, 0, second, tzinfo=UTC)


@pytest.fixture
def admin_client(app: Flask, admin: User) -> FlaskClient:
    return signed_in(app, admin)
