"""RELIABILITY 10 and 18 on PostgreSQL: real threads, real row locks, real unique indexes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from portal import ledger
from portal.bookings import hold
from portal.extensions import db
from portal.models import (
    Booking,
    CoachProfile,
    LedgerEntry,
    PaymentStatus,
    Role,
    SessionStatus,
    Transaction,
)
from tests.builders import make_slot, make_user
from tests.coaches.conftest import book_slot
from tests.conftest import PASSWORD, is_postgres, login
from tests.stripe_fake import FakeStripe
from tests.webhooks.payloads import event
from tests.webhooks.signing import PLATFORM_PATH, platform_secret, signed_post


@pytest.fixture(autouse=True)
def _postgres_only(app: Flask) -> None:
    if not is_postgres(app):
        pytest.skip("needs PostgreSQL (row locks and concurrent unique-index inserts)")


def _together(*actions: Callable[[], Any]) -> list[Any]:
    """Run the actions in threads released at the same moment; return their results."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)
    errors: list[BaseException] = []

    def run(i: int, action: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = action()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.parametrize("event_type", ["checkout.session.completed", "payment_intent.succeeded"])
def test_return_page_and_webhook_together_fulfil_each_booking_once(
    app: Flask, mentee, bookable_coach, stripe_fake: FakeStripe, event_type: str
) -> None:
    browser = app.test_client()
    login(browser, mentee)
    stripe = app.test_client()
    secret = platform_secret(stripe)
    for round_ in range(50):
        slot = make_slot(bookable_coach, hours_from_now=48 + round_)
        booking = hold.hold_slot(mentee, slot.id)
        db.session.commit()
        hold.start_checkout(booking, success_url="http://x/ok", cancel_url="http://x/no")
        db.session.commit()
        session_id = booking.stripe_checkout_session_id
        intent = stripe_fake.pay(session_id)["payment_intent"]
        if event_type == "checkout.session.completed":
            paid = event(event_type, stripe_fake.event_object(session_id))
        else:
            paid = event(event_type, intent)
        returned, webhook = _together(
            lambda sid=session_id: browser.get(f"/bookings/return?session_id={sid}"),
            lambda evt=paid: signed_post(stripe, PLATFORM_PATH, evt, secret),
        )
        assert (returned.status_code, webhook.status_code) == (303, 200), webhook.text
        db.session.expire_all()
        paid = db.session.get(Booking, booking.id)
        assert (paid.status, paid.payment_status) == (SessionStatus.CONFIRMED, PaymentStatus.PAID)
        transactions = db.session.scalars(
            db.select(Transaction).where(Transaction.session_id == booking.id)
        ).all()
        assert len(transactions) == 1
        entries = db.session.scalars(
            db.select(LedgerEntry).where(LedgerEntry.transaction_id == transactions[0].id)
        ).all()
        assert len(entries) == 1
    profile = db.session.scalar(
        db.select(CoachProfile).where(CoachProfile.user_id == bookable_coach.id)
    )
    assert profile.pending_balance == Decimal("80.00") * 50
    assert ledger.verify() == []


def test_two_mentees_checking_out_one_slot_at_once_leave_exactly_one_holder(
    app: Flask, bookable_coach, stripe_fake: FakeStripe
) -> None:
    clients = []
    for _ in range(2):
        client = app.test_client()
        login(client, make_user(Role.MENTEE, password=PASSWORD))
        clients.append(client)
    for round_ in range(10):
        slot_id = make_slot(bookable_coach, hours_from_now=100 + round_).id
        responses = _together(*(lambda c=c, s=slot_id: book_slot(c, s) for c in clients))
        locations = sorted(r.headers["Location"] for r in responses)
        assert locations[0] == f"/coaches/{bookable_coach.id}", locations
        assert locations[1].startswith("https://checkout.stripe.com/"), locations
        loser = next(
            c
            for c, r in zip(clients, responses, strict=True)
            if r.headers["Location"].startswith("/coaches/")
        )
        assert "That time was just taken — pick another." in loser.get(locations[0]).text
        db.session.expire_all()
        holders = db.session.scalars(db.select(Booking).where(Booking.slot_id == slot_id)).all()
        assert len(holders) == 1
        assert holders[0].status is SessionStatus.PENDING_PAYMENT
        hold.release_booking(holders[0], PaymentStatus.CANCELED)  # unpaid holds are limited
        db.session.commit()
    assert stripe_fake.count("checkout.sessions.create") == 10


def test_one_payment_in_two_events_from_eight_workers_pays_the_booking_once(
    app: Flask, mentee, bookable_coach, stripe_fake: FakeStripe
) -> None:
    slot = make_slot(bookable_coach, hours_from_now=48)
    booking = hold.hold_slot(mentee, slot.id)
    db.session.commit()
    hold.start_checkout(booking, success_url="http://x/ok", cancel_url="http://x/no")
    db.session.commit()
    intent = stripe_fake.pay(booking.stripe_checkout_session_id)["payment_intent"]
    first, second = (event("payment_intent.succeeded", intent) for _ in range(2))
    secret = platform_secret(app.test_client())

    def deliver(evt: dict[str, Any]) -> tuple[int, str]:
        response = signed_post(app.test_client(), PLATFORM_PATH, evt, secret)
        return response.status_code, response.text

    results = _together(*(lambda evt=evt: deliver(evt) for evt in [first, second] * 4))
    assert sorted(results) == [(200, "duplicate")] * 6 + [(200, "processed")] * 2
    db.session.expire_all()
    paid = db.session.get(Booking, booking.id)
    assert (paid.status, paid.payment_status) == (SessionStatus.CONFIRMED, PaymentStatus.PAID)
    [transaction] = db.session.scalars(
        db.select(Transaction).where(Transaction.session_id == booking.id)
    ).all()
    entries = db.session.scalars(
        db.select(LedgerEntry).where(LedgerEntry.transaction_id == transaction.id)
    ).all()
    assert len(entries) == 1
    profile = db.session.scalar(
        db.select(CoachProfile).where(CoachProfile.user_id == bookable_coach.id)
    )
    assert (profile.pending_balance, profile.ledger_entry_count) == (Decimal("80.00"), 1)
    assert ledger.verify() == []
