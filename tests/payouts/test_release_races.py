"""A release applied while a payment of the same coach is being recorded: real threads on real
connections, Stripe faked at the gateway seam.

On PostgreSQL a release that read the coach's held payments before taking the coach's lock
missed a payment still being recorded, which in turn read the release's mark before it was
committed, and the payment stayed pending. On SQLite the release holds the database's write lock
from its first statement, so the same test shows the payment waiting and ending the same way."""

from __future__ import annotations

import math
import threading
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal import ledger
from portal.bookings import hold
from portal.extensions import db
from portal.models import LedgerEntry, LedgerEntryKind, Role, Transaction, User
from portal.stripe_gateway import connect as connect_gateway
from tests.builders import make_connected_account, make_slot, make_user
from tests.payouts.conftest import WAIT, earn, in_thread, waits_for_a_lock
from tests.stripe_fake import FakeStripe
from tests.webhooks.payloads import balance, event
from tests.webhooks.signing import (
    CONNECT_PATH,
    PLATFORM_PATH,
    connect_secret,
    platform_secret,
    signed_post,
)

D = Decimal


def test_a_release_applied_while_a_payment_is_recorded_leaves_that_payment_available(
    app: Flask, mentee: User, stripe_fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    coach = make_user(Role.COACH, session_price=D("100.00"))
    account = make_connected_account(coach).stripe_account_id
    earn(coach, "50.00", mentee=make_user(Role.MENTEE))  # held, and still pending at Stripe
    slot = make_slot(coach, hours_from_now=48)
    booking = hold.hold_slot(mentee, slot.id)
    db.session.commit()
    hold.start_checkout(booking, success_url="http://x/ok", cancel_url="http://x/no")
    db.session.commit()
    intent = stripe_fake.pay(booking.stripe_checkout_session_id)["payment_intent"]
    stripe_fake.release(account, intent["latest_charge"]["transfer"])  # Stripe released it
    released_at = math.ceil(booking.created_at.timestamp())  # after the booking was made
    release = event("balance.available", balance(8000), account=account, created=released_at)
    payment = event("payment_intent.succeeded", intent)

    # The release's first question to Stripe waits until the payment is on its way: by then
    # the release has read the coach's held payments and has not committed.
    asked, answer = threading.Event(), threading.Event()
    stripe_answers = connect_gateway.released_transfers

    def released_transfers(*args: Any) -> set[str]:
        if not asked.is_set():
            asked.set()
            answer.wait(timeout=WAIT)
        return stripe_answers(*args)

    monkeypatch.setattr(connect_gateway, "released_transfers", released_transfers)
    client = app.test_client()
    releasing, released = in_thread(
        app, lambda: signed_post(app.test_client(), CONNECT_PATH, release, connect_secret(client))
    )
    assert asked.wait(timeout=WAIT), released
    paying, paid = in_thread(
        app, lambda: signed_post(app.test_client(), PLATFORM_PATH, payment, platform_secret(client))
    )
    try:
        # The payment cannot record its ledger entry while the release holds the coach's lock.
        assert waits_for_a_lock(app, paying), "the payment was recorded during the release"
    finally:
        answer.set()
        releasing.join(timeout=WAIT)
        paying.join(timeout=WAIT)
    assert not releasing.is_alive() and not paying.is_alive()
    assert "error" not in released and "error" not in paid, (released, paid)
    assert released["response"].status_code == paid["response"].status_code == 200

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
