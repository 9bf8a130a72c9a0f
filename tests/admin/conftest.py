"""Helpers for the admin tests: signed-in clients, forms with their CSRF token, dated payments."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
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


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_queries(app: Flask) -> Iterator[QueryCounter]:
    """Every SQL statement the app's engine runs inside the block."""
    counter = QueryCounter()
    engine = db.engine

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counter.statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield counter
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


@pytest.fixture
def admin_client(app: Flask, admin: User) -> FlaskClient:
    return signed_in(app, admin)
