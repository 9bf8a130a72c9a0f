"""A payment's late word and a dispute of the same payment, applied at once: real threads on real
connections, Stripe faked at the gateway seam.

A payment found recorded is read without a lock, and its event waits for the coach's lock at the
payment's ledger entry before it writes what it names (a receipt, a transfer) on the row. A
dispute's event holds that lock, and the row's, while it flags the row. The payment's event must
then write on the row as the dispute left it, not on the copy it read before: the flag is what
lists the dispute for the admins and refuses a second recovery. On SQLite the dispute's event
holds the database's write lock, and the other waits for it."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import Role, Transaction, User
from portal.stripe_gateway import disputes as disputes_gateway
from tests.builders import make_connected_account, make_paid_checkout, make_slot, make_user
from tests.payouts.conftest import WAIT, in_thread, recorded_but_awaiting, waits_for_a_lock
from tests.stripe_fake import FakeStripe
from tests.webhooks.payloads import dispute, event
from tests.webhooks.signing import PLATFORM_PATH, platform_secret, signed_post


def test_a_payments_late_word_keeps_the_flag_of_a_dispute_applied_meanwhile(
    app: Flask, mentee: User, stripe_fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    coach = make_user(Role.COACH, session_price=Decimal("100.00"))
    make_connected_account(coach)
    booking, intent = make_paid_checkout(stripe_fake, mentee, make_slot(coach, hours_from_now=48))
    recorded_but_awaiting(app, stripe_fake, booking)  # its receipt not yet named
    platform = platform_secret(app.test_client())

    # The dispute's event holds the coach's and the payment's locks until it is let go on.
    holding, go_on = threading.Event(), threading.Event()
    funds_of = disputes_gateway.funds_of

    def held_funds_of(data: dict[str, Any]) -> disputes_gateway.DisputeFunds:
        holding.set()
        go_on.wait(timeout=WAIT)
        return funds_of(data)

    monkeypatch.setattr(disputes_gateway, "funds_of", held_funds_of)
    opened = dispute(intent["id"], 10000)
    disputing, disputed = in_thread(
        app,
        lambda: signed_post(
            app.test_client(), PLATFORM_PATH, event("charge.dispute.created", opened), platform
        ),
    )
    assert holding.wait(timeout=WAIT), disputed
    succeeded = event("payment_intent.succeeded", intent)  # names the receipt
    paying, paid = in_thread(
        app, lambda: signed_post(app.test_client(), PLATFORM_PATH, succeeded, platform)
    )
    try:
        assert waits_for_a_lock(app, paying), f"it did not wait for the dispute: {paid}"
    finally:
        go_on.set()
        disputing.join(timeout=WAIT)
        paying.join(timeout=WAIT)
    assert not disputing.is_alive() and not paying.is_alive()
    for outcome in (disputed, paid):
        assert "error" not in outcome, outcome
        assert outcome["response"].status_code == 200, outcome["response"].text

    db.session.expire_all()
    [transaction] = db.session.scalars(
        sa.select(Transaction).where(Transaction.session_id == booking.id)
    ).all()
    assert transaction.meta["dispute"]["id"] == opened["id"]
    assert transaction.meta["receipt_url"] == intent["latest_charge"]["receipt_url"]
