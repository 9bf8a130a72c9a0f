"""RELIABILITY 10, 18 and 37: real threads against real locks and unique indexes, on both
databases (SQLite serialises writers from their first lock, as PostgreSQL's row locks do)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from portal import ledger
from portal.admin import refunds as admin_refunds
from portal.bookings import hold
from portal.extensions import db
from portal.models import (
    Booking,
    CoachProfile,
    LedgerEntry,
    PaymentStatus,
    Refund,
    RefundStatus,
    Role,
    SessionStatus,
    Transaction,
    User,
)
from tests.builders import make_paid_checkout, make_slot, make_user
from tests.coaches.conftest import book_slot, post_form
from tests.conftest import PASSWORD, login
from tests.stripe_fake import FakeStripe
from tests.webhooks.payloads import event
from tests.webhooks.signing import PLATFORM_PATH, platform_secret, signed_post


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
        booking, intent = make_paid_checkout(stripe_fake, mentee, slot)
        session_id = booking.stripe_checkout_session_id
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
    booking, intent = make_paid_checkout(
        stripe_fake, mentee, make_slot(bookable_coach, hours_from_now=48)
    )
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


def test_a_double_clicked_cancel_ends_in_one_refund(
    app: Flask, mentee, paid_booking: Booking, stripe_fake: FakeStripe
) -> None:
    clients = []
    for _ in range(2):  # two tabs of the same mentee, clicking at the same moment
        client = app.test_client()
        login(client, mentee)
        clients.append(client)
    url = f"/bookings/{paid_booking.id}/cancel"
    responses = _together(*(lambda c=c: post_form(c, url) for c in clients))
    assert [r.status_code for r in responses] == [303, 303]
    assert stripe_fake.count("refunds.create") == 1
    db.session.expire_all()
    [transaction] = db.session.scalars(db.select(Transaction)).all()
    assert [(r.amount, r.status) for r in transaction.refunds] == [
        (Decimal("100.00"), RefundStatus.SUCCEEDED)
    ]
    assert db.session.get(Booking, paid_booking.id).status is SessionStatus.CANCELED
    assert ledger.verify() == []


def test_two_admins_refunding_one_payment_in_full_at_once_make_one_refund(
    app: Flask, paid_booking: Booking, stripe_fake: FakeStripe
) -> None:
    admin_ids = [make_user(Role.ADMIN).id for _ in range(2)]
    db.session.expire_all()
    [transaction] = db.session.scalars(db.select(Transaction)).all()
    txn_id = transaction.id
    db.session.rollback()

    def refund_in_full(admin_id: int, token: str) -> str:
        with app.app_context():
            admin = db.session.get(User, admin_id)
            try:
                refund = admin_refunds.request(
                    txn_id,
                    admin=admin,
                    amount=Decimal("100.00"),
                    reason="Both saw the complaint",
                    request_token=token,
                )
                db.session.commit()
            except admin_refunds.AdminRefundError as exc:
                db.session.rollback()
                return exc.message
            admin_refunds.submit(refund.id, admin=admin)
            db.session.commit()
            return "refunded"

    results = _together(
        *(lambda a=a, n=n: refund_in_full(a, f"t{n}" * 16) for n, a in enumerate(admin_ids))
    )
    assert sorted(results)[1] == "refunded", results
    assert "refund" in sorted(results)[0].lower(), results
    assert stripe_fake.count("refunds.create") == 1
    db.session.expire_all()
    refunds = db.session.scalars(db.select(Refund)).all()
    assert [(r.amount, r.status) for r in refunds] == [(Decimal("100.00"), RefundStatus.SUCCEEDED)]
    assert ledger.verify() == []
