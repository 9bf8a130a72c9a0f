"""A lost dispute's recovery, refunds told of by Stripe, or a payment told of again, at the moment
Stripe releases the same payment: real threads on real connections, Stripe faked at the gateway
seam.

A release holds the coach's balance lock while it writes each payment's release entry, whose
foreign key locks the payment's row, and it writes a transfer it had to ask Stripe for on that row.
The dispute's event locked the payment's row first, a refund that moved nothing of the coach's
wrote the payment's status first, and a payment found recorded wrote the transfer its event named
on the payment's row first; each then waited for the coach's balances (at a ledger entry)
while the release waited for it, and PostgreSQL aborted one of the two (a 500 to Stripe). Every
path now takes the coach's lock before the payment's row: the second one waits, and both are
applied. On SQLite the release holds the database's write lock, and the other waits for it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal import ledger
from portal.extensions import db
from portal.models import (
    Booking,
    LedgerEntry,
    LedgerEntryKind,
    Role,
    SessionStatus,
    Transaction,
    User,
)
from portal.stripe_gateway import disputes as disputes_gateway
from tests.builders import make_connected_account, make_paid_checkout, make_slot, make_user
from tests.payouts.conftest import deliver_during_release, earn, recorded_but_awaiting
from tests.stripe_fake import FakeStripe
from tests.webhooks.payloads import dispute, event

D = Decimal
ZERO = D("0.00")


def _held_payment_released_at_stripe(stripe_fake: FakeStripe) -> tuple[User, str, Transaction]:
    """A coach's paid session, still pending in the portal, which Stripe has made available."""
    coach = make_user(Role.COACH, session_price=D("100.00"))
    account = make_connected_account(coach).stripe_account_id
    txn = earn(coach, "100.00", paid=("pi_held_released", "tr_held_released"))
    stripe_fake.release(account, txn)
    return coach, account, txn


def _entries(coach: User) -> list[LedgerEntryKind]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(LedgerEntry.kind)
            .where(LedgerEntry.coach_id == coach.id)
            .order_by(LedgerEntry.id)
        )
    )


def test_a_lost_dispute_recovered_while_its_payment_is_released_is_applied_with_the_release(
    app: Flask, stripe_fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    coach, account, txn = _held_payment_released_at_stripe(stripe_fake)
    monkeypatch.setitem(app.config, "DISPUTE_LOST_COACH_SHARE", "recover_automatically")
    monkeypatch.setattr(
        disputes_gateway,
        "reverse_transfer_for_dispute",
        lambda transaction, amount: {"id": "trr_dispute_lost", "amount": amount},
    )
    lost = event(
        "charge.dispute.closed", dispute(txn.stripe_payment_intent_id, 10000, status="lost")
    )
    deliver_during_release(app, monkeypatch, account, lost)

    assert _entries(coach) == [
        LedgerEntryKind.PAYMENT,
        LedgerEntryKind.FUNDS_AVAILABLE,
        LedgerEntryKind.DISPUTE,
    ]
    # Released (pending to available), then the whole share taken back from available.
    assert ledger.balances_of(coach.id) == ledger.Balances(ZERO, ZERO, ZERO)
    assert db.session.get(Transaction, txn.id).meta["dispute"]["recovered"] == str(txn.coach_share)
    assert ledger.verify() == []


def test_refunds_told_of_while_their_payment_is_released_are_applied_with_the_release(
    app: Flask, stripe_fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Recorded from an event that named no transfer: the release asks Stripe for it and writes
    # it on the payment's row.
    coach = make_user(Role.COACH, session_price=D("100.00"))
    account = make_connected_account(coach).stripe_account_id
    txn = earn(coach, "100.00")
    stripe_fake.release(account, txn)
    # Two refunds made in Stripe's dashboard, told of by one `charge.refunded`: the first
    # reversed nothing of the coach's transfer, the second 40.00 of it (and 10.00 of the fee).
    refunds = [
        _refund_at_stripe(stripe_fake, "re_kept_transfer", 2000, reversed_=0, fee_refunded=0),
        _refund_at_stripe(stripe_fake, "re_reversed", 5000, reversed_=4000, fee_refunded=1000),
    ]
    charge = {
        "id": "ch_refunded_twice",
        "object": "charge",
        "payment_intent": txn.stripe_payment_intent_id,
        "amount": 10000,
        "amount_refunded": 7000,
        "refunds": {"data": refunds},
    }
    refunded = event("charge.refunded", charge)
    deliver_during_release(app, monkeypatch, account, refunded)

    assert _entries(coach) == [
        LedgerEntryKind.PAYMENT,
        LedgerEntryKind.FUNDS_AVAILABLE,
        LedgerEntryKind.REFUND,
    ]
    # Released (80.00 from pending to available), then Stripe's 40.00 reversal taken back.
    assert ledger.balances_of(coach.id) == ledger.Balances(D("40.00"), ZERO, D("40.00"))
    assert db.session.get(Transaction, txn.id).stripe_transfer_id is not None
    assert ledger.verify() == []


def test_a_payment_told_of_again_while_it_is_released_is_applied_with_the_release(
    app: Flask, mentee: User, stripe_fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    coach = make_user(Role.COACH, session_price=D("100.00"))
    account = make_connected_account(coach).stripe_account_id
    booking, intent = make_paid_checkout(stripe_fake, mentee, make_slot(coach, hours_from_now=48))
    recorded_but_awaiting(app, stripe_fake, booking)
    stripe_fake.release(account, intent["latest_charge"]["transfer"])
    succeeded = event("payment_intent.succeeded", intent)  # this one names the transfer
    deliver_during_release(app, monkeypatch, account, succeeded)

    assert _entries(coach) == [LedgerEntryKind.PAYMENT, LedgerEntryKind.FUNDS_AVAILABLE]
    assert ledger.balances_of(coach.id) == ledger.Balances(D("80.00"), ZERO, D("80.00"))
    [transaction] = db.session.scalars(
        sa.select(Transaction).where(Transaction.session_id == booking.id)
    ).all()
    assert transaction.stripe_transfer_id == intent["latest_charge"]["transfer"]
    assert db.session.get(Booking, booking.id).status is SessionStatus.CONFIRMED
    assert ledger.verify() == []


def _refund_at_stripe(
    stripe_fake: FakeStripe, refund_id: str, amount: int, *, reversed_: int, fee_refunded: int
) -> dict[str, Any]:
    """A succeeded refund of a 100.00 payment (20.00 fee), as listed on its charge; Stripe
    answers with its split when it is read."""
    listed = {"id": refund_id, "object": "refund", "amount": amount, "status": "succeeded"}
    stripe_fake.expanded_refunds[refund_id] = {
        **listed,
        "created": len(stripe_fake.expanded_refunds) + 1,
        "transfer_reversal": {"amount": reversed_} if reversed_ else None,
        "charge": {
            "amount": 10000,
            "application_fee": {"amount": 2000, "amount_refunded": fee_refunded},
            "transfer": {"amount": 8000},
        },
    }
    return {**listed, "created": stripe_fake.expanded_refunds[refund_id]["created"]}
