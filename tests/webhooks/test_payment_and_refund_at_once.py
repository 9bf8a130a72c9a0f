"""A payment's events and its refund's events, all delivered at the same moment: the portal had
not recorded the payment when Stripe refunded it, and every event arrives at once, each on its
own connection (the stand-in sends each from its own thread, behind one barrier). Whatever
order the database serialises them in, the payment is recorded once, the refund once, no event
is left waiting or failed, and the coach's balances equal Stripe's."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask

from portal import ledger
from portal.extensions import db
from portal.models import (
    Booking,
    EventStatus,
    Refund,
    RefundStatus,
    Role,
    StripeEvent,
    Transaction,
    TransactionStatus,
)
from tests.builders import make_slot, make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox, live_portal, live_sandbox
from tests.stripe_agreement import balance_disagreements
from tests.test_money_truth import _coach

__all__ = ["live_portal", "live_sandbox"]

ROUNDS = 3
WAIT = 30


SUCCEEDS = "4242 4242 4242 4242"
DISPUTED = "4000 0000 0000 0259"  # the payment succeeds, and its charge is disputed at once


def _paid_at_stripe_only(
    live_portal: LivePortal, coach: Any, hours: int, card: str = SUCCEEDS
) -> int:
    """A mentee books and pays at Stripe, and never comes back to the portal: the booking's id."""
    slot = make_slot(coach, hours_from_now=hours)
    browser = live_portal.browser()
    live_portal.login(browser, make_user(Role.MENTEE, password=PASSWORD))
    checkout = live_portal.post(browser, f"/slots/{slot.id}/book", f"/coaches/{coach.id}")
    paid = browser.post(
        checkout.headers["Location"],
        data={"number": card, "expiry": "12/34", "cvc": "123", "name": "A B"},
        allow_redirects=False,
        timeout=10,
    )
    assert paid.status_code in (302, 303), paid.text
    return db.session.scalars(sa.select(Booking.id).where(Booking.slot_id == slot.id)).one()


def _deliver_held_at_once(live_sandbox: LiveSandbox) -> None:
    """Every held event at the same moment, then again as Stripe retries nothing: duplicates."""
    held = requests.get(f"{live_sandbox.url}/_sandbox/deliveries", timeout=10).json()["held"]
    deliveries = _deliver_at_once(live_sandbox, held)
    assert [d for d in deliveries if d["status"] != 200] == []
    live_sandbox.control("webhooks/resume")  # what was held is sent again
    live_sandbox.flush()
    db.session.expire_all()


def _unsettled_events() -> list[str]:
    return list(
        db.session.scalars(
            sa.select(StripeEvent.type).where(
                StripeEvent.status.in_([EventStatus.DEFERRED, EventStatus.FAILED])
            )
        )
    )


def _deliver_at_once(live_sandbox: LiveSandbox, event_ids: list[str]) -> list[dict[str, Any]]:
    barrier = threading.Barrier(len(event_ids))

    def deliver(event_id: str) -> dict[str, Any]:
        barrier.wait(timeout=WAIT)
        answer = requests.post(
            f"{live_sandbox.url}/_sandbox/webhooks/deliver", json={"ids": [event_id]}, timeout=60
        )
        answer.raise_for_status()
        return answer.json()["deliveries"][0]

    with ThreadPoolExecutor(len(event_ids)) as pool:
        return list(pool.map(deliver, event_ids))


def test_a_payment_and_its_refund_delivered_at_once_are_each_recorded_once(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach = _coach(live_sandbox, "95.00", "17.25")
    stripe = live_sandbox.client()
    for round_ in range(ROUNDS):
        live_sandbox.control("webhooks/pause")
        booking_id = _paid_at_stripe_only(live_portal, coach, 48 + 2 * round_)
        intent = stripe.v1.payment_intents.list(params={"limit": 1}).data[0]
        stripe.v1.refunds.create(
            params={
                "payment_intent": intent.id,
                "amount": 3000 + round_,
                "reverse_transfer": True,
                "refund_application_fee": True,
            }
        )
        _deliver_held_at_once(live_sandbox)

        [transaction] = db.session.scalars(
            sa.select(Transaction).where(Transaction.session_id == booking_id)
        ).all()
        assert transaction.status is TransactionStatus.PARTIALLY_REFUNDED
        [refund] = db.session.scalars(
            sa.select(Refund).where(Refund.transaction_id == transaction.id)
        ).all()
        assert (refund.status, refund.amount * 100) == (RefundStatus.SUCCEEDED, 3000 + round_)
        assert _unsettled_events() == []
        assert balance_disagreements(stripe) == []
        assert ledger.verify() == []


def test_a_payment_and_its_dispute_delivered_at_once_leave_the_payment_flagged(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach = _coach(live_sandbox, "95.00", "17.25")
    stripe = live_sandbox.client()
    for round_ in range(ROUNDS):
        live_sandbox.control("webhooks/pause")
        booking_id = _paid_at_stripe_only(live_portal, coach, 48 + 2 * round_, DISPUTED)
        _deliver_held_at_once(live_sandbox)

        [transaction] = db.session.scalars(
            sa.select(Transaction).where(Transaction.session_id == booking_id)
        ).all()
        assert transaction.is_disputed
        assert _unsettled_events() == []
        assert balance_disagreements(stripe) == []
        assert ledger.verify() == []
