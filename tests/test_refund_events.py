"""Each of Stripe's refund events applies the refund as Stripe has it, once, whatever the order
(issue 17's refund events; DESIGN rules 3 and 7): `refund.created`, `refund.updated` and
`refund.failed`, `transfer.reversed`, `application_fee.refunded` and `charge.refunded`, beside the
create response. Through the portal's pages and the stand-in, with events held, shuffled and
doubled; after each, every coach's balances equal Stripe's and reconciliation is clean."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from flask import Flask

from portal import ledger
from portal.admin import reconciliation
from portal.extensions import db
from portal.models import PaymentStatus, RefundStatus, Transaction, TransactionStatus
from tests.live import LivePortal, LiveSandbox, live_portal, live_sandbox
from tests.stripe_agreement import balance_disagreements
from tests.test_money_truth import _admin, _coach, _pay, _refund

__all__ = ["live_portal", "live_sandbox"]

REFUND_EVENTS = ["refund.created", "transfer.reversed", "application_fee.refunded"]


def _held_events(live_sandbox: LiveSandbox) -> dict[str, list[str]]:
    """The held platform events' ids by type."""
    held = requests.get(live_sandbox.url + "/_sandbox/deliveries", timeout=10).json()["held"]
    by_type: dict[str, list[str]] = {}
    for event in live_sandbox.client().v1.events.list(params={"limit": 100}).data:
        if event.id in held:
            by_type.setdefault(event.type, []).append(event.id)
    return by_type


def _deliver(live_sandbox: LiveSandbox, ids: list[str]) -> None:
    live_sandbox.control("webhooks/deliver", ids=ids)
    db.session.expire_all()


def _all_agree(app: Flask, live_sandbox: LiveSandbox) -> None:
    assert balance_disagreements(live_sandbox.client()) == []
    assert ledger.verify() == []
    today = datetime.now(UTC).date()
    report = reconciliation.reconcile(date(2000, 1, 1), today + timedelta(days=400))
    assert [str(m) for m in report.mismatches] == []


def _refund_at_stripe(live_sandbox: LiveSandbox, txn_id: int, amount: int) -> str:
    """A refund made in Stripe's dashboard: the portal hears of it by webhook only."""
    txn = db.session.get(Transaction, txn_id)
    return (
        live_sandbox.client()
        .v1.refunds.create(
            params={
                "payment_intent": txn.stripe_payment_intent_id,
                "amount": amount,
                "reverse_transfer": True,
                "refund_application_fee": True,
            }
        )
        .id
    )


@pytest.fixture
def stripe_app(app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal) -> Flask:
    """The test's own app (reconciliation) talks to the same stand-in as the served portal."""
    app.config.update(
        STRIPE_API_BASE=live_sandbox.url,
        STRIPE_SECRET_KEY="sk_test_live",
        STRIPE_MAX_NETWORK_RETRIES=0,
    )
    app.extensions.pop("stripe_client", None)
    return app


@pytest.mark.parametrize("first", REFUND_EVENTS)
def test_a_refund_is_applied_from_whichever_of_its_events_arrives_first(
    stripe_app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, first: str
) -> None:
    coach = _coach(live_sandbox, "95.00", "17.25")  # fee 16.39, share 78.61
    txn_id = _pay(live_portal, live_sandbox, coach, 72)
    live_sandbox.control("webhooks/pause")
    stripe_refund = _refund_at_stripe(live_sandbox, txn_id, 4750)
    held = _held_events(live_sandbox)

    _deliver(live_sandbox, held[first])  # only this one: the others are still on their way
    [refund] = db.session.get(Transaction, txn_id).refunds
    assert (refund.stripe_refund_id, refund.status) == (stripe_refund, RefundStatus.SUCCEEDED)
    assert refund.transfer_reversed == Decimal("47.50")
    assert refund.platform_fee_refunded == Decimal("8.20")
    assert balance_disagreements(live_sandbox.client()) == []

    rest = [i for ids in held.values() for i in ids]
    _deliver(live_sandbox, random.Random(first).sample(rest * 2, 2 * len(rest)))  # all, twice
    live_sandbox.control("webhooks/resume")
    live_sandbox.flush()
    db.session.expire_all()
    assert len(db.session.get(Transaction, txn_id).refunds) == 1
    _all_agree(stripe_app, live_sandbox)


def test_two_refunds_applied_newest_first_add_up_to_stripes_fee_refund(
    stripe_app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach = _coach(live_sandbox, "95.00", "17.25")
    txn_id = _pay(live_portal, live_sandbox, coach, 72)
    live_sandbox.control("webhooks/pause")
    older = _refund_at_stripe(live_sandbox, txn_id, 4750)
    newer = _refund_at_stripe(live_sandbox, txn_id, 1901)
    created = {
        e.data.object.id: e.id
        for e in live_sandbox.client().v1.events.list(params={"type": "refund.created"}).data
    }
    _deliver(live_sandbox, [created[newer]])  # the newer refund's event comes first
    _deliver(live_sandbox, [created[older]])
    txn = db.session.get(Transaction, txn_id)
    assert {r.status for r in txn.refunds} == {RefundStatus.SUCCEEDED}
    fee = live_sandbox.client().v1.application_fees.list(params={"limit": 1}).data[0]
    assert sum(r.platform_fee_refunded for r in txn.refunds) == Decimal(fee.amount_refunded) / 100
    assert balance_disagreements(live_sandbox.client()) == []
    live_sandbox.control("webhooks/resume")
    live_sandbox.flush()
    _all_agree(stripe_app, live_sandbox)


def test_a_refund_that_fails_later_is_failed_and_the_coach_keeps_what_stripe_took(
    stripe_app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach = _coach(live_sandbox, "100.00")  # share 80.00
    txn_id = _pay(live_portal, live_sandbox, coach, 72)
    _refund(live_portal, _admin(live_portal), txn_id, "30.00")  # the coach gives back 24.00
    live_sandbox.flush()
    db.session.expire_all()
    [refund] = db.session.get(Transaction, txn_id).refunds
    assert refund.status is RefundStatus.SUCCEEDED

    live_sandbox.control("webhooks/chaos", on=True)  # shuffled, one in three twice
    live_sandbox.control(f"refunds/{refund.stripe_refund_id}/fail", reason="lost_or_stolen_card")
    live_sandbox.flush()
    live_sandbox.control("webhooks/chaos", on=False)
    db.session.expire_all()
    txn = db.session.get(Transaction, txn_id)
    [refund] = txn.refunds
    assert refund.status is RefundStatus.FAILED
    assert txn.meta["failed_refunds"] == {str(refund.id): "lost_or_stolen_card"}
    assert txn.status is TransactionStatus.COMPLETED
    assert txn.session.payment_status is PaymentStatus.PAID
    # Stripe gave the platform its money back but kept the reversal: so does the coach's balance.
    assert ledger.balances_of(coach.id).total == Decimal("56.00")
    admin = _admin(live_portal)
    shown = admin.get(f"{live_portal.url}/admin/transactions/{txn_id}", timeout=10).text
    assert "The card's bank refused it (lost or stolen card)" in shown
    _all_agree(stripe_app, live_sandbox)


def test_refund_events_shuffled_and_doubled_leave_the_portal_agreeing_with_stripe(
    stripe_app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach = _coach(live_sandbox, "37.77")
    txn_id = _pay(live_portal, live_sandbox, coach, 72)
    live_sandbox.control("webhooks/chaos", on=True)
    _refund(live_portal, _admin(live_portal), txn_id, "0.19")  # through the portal
    _refund_at_stripe(live_sandbox, txn_id, 1000)  # and at Stripe
    _refund(live_portal, _admin(live_portal), txn_id, "27.58")  # the rest, through the portal
    live_sandbox.flush()
    live_sandbox.control("webhooks/chaos", on=False)
    db.session.expire_all()
    txn = db.session.get(Transaction, txn_id)
    assert len(txn.refunds) == 3 and {r.status for r in txn.refunds} == {RefundStatus.SUCCEEDED}
    assert txn.status is TransactionStatus.REFUNDED
    _all_agree(stripe_app, live_sandbox)
