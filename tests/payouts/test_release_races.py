"""A release applied while a payment of the same coach is being recorded: real threads on real
connections, Stripe faked at the gateway seam.

On PostgreSQL a release that read the coach's held payments before taking the coach's lock
missed a payment still being recorded, which in turn read the release's mark before it was
committed, and the payment stayed pending. On SQLite the release holds the database's write lock
from its first statement, so the same test shows the payment waiting and ending the same way."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from portal import ledger
from portal.extensions import db
from portal.models import LedgerEntry, LedgerEntryKind, Role, Transaction, User
from tests.builders import make_connected_account, make_paid_checkout, make_slot, make_user
from tests.payouts.conftest import deliver_during_release, earn
from tests.stripe_fake import FakeStripe
from tests.webhooks.payloads import event

D = Decimal


def test_a_release_applied_while_a_payment_is_recorded_leaves_that_payment_available(
    app: Flask, mentee: User, stripe_fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    coach = make_user(Role.COACH, session_price=D("100.00"))
    account = make_connected_account(coach).stripe_account_id
    earn(coach, "50.00", mentee=make_user(Role.MENTEE))  # held, and still pending at Stripe
    booking, intent = make_paid_checkout(stripe_fake, mentee, make_slot(coach, hours_from_now=48))
    stripe_fake.release(account, intent["latest_charge"]["transfer"])  # Stripe released it
    payment = event("payment_intent.succeeded", intent)

    # While the release has read the coach's held payments and not committed, the payment is on
    # its way: it cannot record its ledger entry while the release holds the coach's lock.
    released_at = math.ceil(booking.created_at.timestamp())  # after the booking was made
    deliver_during_release(app, monkeypatch, account, payment, created=released_at)

    db.session.expire_all()
    [transaction] = db.session.scalars(
        sa.select(Transaction).where(Transaction.session_id == booking.id)
    ).all()
    releases = db.session.scalars(
        sa.select(LedgerEntry.transaction_id).where(
            LedgerEntry.coach_id == coach.id, LedgerEntry.kind == LedgerEntryKind.FUNDS_AVAILABLE
        )
    ).all()
    assert releases == [transaction.id]
    assert ledger.balances_of(coach.id) == ledger.Balances(
        total=D("120.00"), pending=D("40.00"), available=D("80.00")
    )
    assert ledger.verify() == []
