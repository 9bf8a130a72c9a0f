"""RELIABILITY 2, 4 and 17: each event applied once, failures retryable, concurrent events exact."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal import ledger
from portal.extensions import db
from portal.models import (
    EventStatus,
    LedgerEntry,
    LedgerEntryKind,
    Payout,
    PayoutStatus,
    Role,
    StripeEvent,
    User,
)
from portal.webhooks import dispatch
from portal.webhooks.runner import UnknownEvent, apply_event, reprocess_event
from tests.builders import make_connected_account, make_payment, make_user
from tests.conftest import is_postgres, make_app
from tests.stripe_fake import FakeStripe
from tests.webhooks import payloads
from tests.webhooks.signing import CONNECT_PATH, PLATFORM_PATH, signed_post

D = Decimal
CONNECT_SECRET = "whsec_test_connect"


def event_row(event_id: str) -> StripeEvent | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(StripeEvent).where(StripeEvent.stripe_event_id == event_id))


def balances(coach: User) -> ledger.Balances:
    db.session.expire_all()
    return ledger.balances_of(coach.id)


def paid_coach(
    mentee: User, *prices: str, released_by: FakeStripe | None = None
) -> tuple[User, str]:
    """A coach with a connected account and `prices` paid (shares pending); their account id.
    With `released_by`, Stripe has made the first payment available (its event is to come)."""
    coach = make_user(Role.COACH)
    account = make_connected_account(coach)
    payments = [make_payment(coach, mentee, price) for price in prices]
    for payment in payments:
        ledger.record_payment(payment)
    db.session.commit()
    if released_by is not None:
        released_by.release(account.stripe_account_id, payments[0])
    return coach, account.stripe_account_id


def release_in_ledger(coach: User) -> None:
    """The portal has already moved every payment of the coach's to available."""
    for held in ledger.held_payments(coach.id):
        ledger.record_release(coach.id, held)
    db.session.commit()


def test_an_event_delivered_twice_is_applied_once(client, mentee, stripe_fake):
    coach, account = paid_coach(mentee, "100.00", released_by=stripe_fake)
    event = payloads.event("balance.available", payloads.balance(8000), account=account)
    first = signed_post(client, CONNECT_PATH, event, CONNECT_SECRET)
    second = signed_post(client, CONNECT_PATH, event, CONNECT_SECRET)
    assert (first.status_code, first.text) == (200, "processed")
    assert (second.status_code, second.text) == (200, "duplicate")
    assert balances(coach).available == D("80.00")
    row = event_row(event["id"])
    assert (row.status, row.attempts, row.account) == (EventStatus.PROCESSED, 1, account)
    assert row.processed_at is not None and row.payload["type"] == "balance.available"


def test_an_unknown_event_type_is_recorded_as_ignored(client):
    event = payloads.event("issuing_card.created", {"id": "ic_1", "object": "issuing.card"})
    response = signed_post(client, PLATFORM_PATH, event, "whsec_test_platform")
    assert (response.status_code, response.text) == (200, "ignored")
    assert event_row(event["id"]).status is EventStatus.IGNORED


def test_a_connect_event_for_an_unknown_account_is_ignored_not_failed(client):
    event = payloads.event("balance.available", payloads.balance(100), account="acct_nobody")
    response = signed_post(client, CONNECT_PATH, event, CONNECT_SECRET)
    assert (response.status_code, response.text) == (200, "ignored")
    assert event_row(event["id"]).status is EventStatus.IGNORED


def test_a_failing_handler_rolls_back_and_the_retry_applies_the_event(
    client, mentee, monkeypatch, stripe_fake
):
    coach, account = paid_coach(mentee, "100.00", released_by=stripe_fake)
    real = dispatch.handler_for("balance.available")
    calls = []

    def flaky(event):
        calls.append(event["id"])
        real(event)  # moves the balance, then fails: the move must be rolled back
        if len(calls) == 1:
            raise RuntimeError("database hiccup")

    monkeypatch.setitem(dispatch.HANDLERS, "balance.available", flaky)
    event = payloads.event("balance.available", payloads.balance(8000), account=account)

    failed = signed_post(client, CONNECT_PATH, event, CONNECT_SECRET)
    assert failed.status_code == 500
    row = event_row(event["id"])
    assert (row.status, row.attempts) == (EventStatus.FAILED, 1)
    assert row.error == "RuntimeError: database hiccup"
    assert balances(coach) == ledger.Balances(D("80.00"), D("80.00"), D("0.00"))

    retried = signed_post(client, CONNECT_PATH, event, CONNECT_SECRET)
    assert (retried.status_code, retried.text) == (200, "processed")
    row = event_row(event["id"])
    assert (row.status, row.attempts, row.error) == (EventStatus.PROCESSED, 2, None)
    assert balances(coach) == ledger.Balances(D("80.00"), D("0.00"), D("80.00"))
    assert len(calls) == 2
    assert ledger.verify() == []


def test_a_handler_failing_every_time_counts_its_attempts(client, monkeypatch):

    def broken(event):
        raise ValueError("no such thing")

    monkeypatch.setitem(dispatch.HANDLERS, "payout.paid", broken)
    event = payloads.event("payout.paid", payloads.payout("po_1", 100, status="paid"))
    for _ in range(3):
        assert signed_post(client, CONNECT_PATH, event, CONNECT_SECRET).status_code == 500
    row = event_row(event["id"])
    assert (row.status, row.attempts) == (EventStatus.FAILED, 3)


def test_reprocess_applies_a_failed_event_and_refuses_an_unknown_one(
    app, mentee, monkeypatch, stripe_fake
):
    coach, account = paid_coach(mentee, "100.00", released_by=stripe_fake)
    real = dispatch.handler_for("balance.available")

    def broken(event):
        raise RuntimeError("down")

    event = payloads.event("balance.available", payloads.balance(8000), account=account)
    monkeypatch.setitem(dispatch.HANDLERS, "balance.available", broken)
    assert apply_event(event).status == "failed"
    monkeypatch.setitem(dispatch.HANDLERS, "balance.available", real)
    assert reprocess_event(event["id"]).status == "processed"
    assert reprocess_event(event["id"]).status == "duplicate"
    assert balances(coach).available == D("80.00")
    with pytest.raises(UnknownEvent):
        reprocess_event("evt_never_seen")


def _deliver_concurrently(database_url: str, deliveries: list[dict], threads: int) -> list:
    """POST each event (signed) from `threads` workers, each with its own test client."""
    worker_app = make_app(
        database_url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": threads, "max_overflow": 0}
    )
    queue = list(enumerate(deliveries))
    lock = threading.Lock()
    barrier = threading.Barrier(threads, timeout=30)
    results: list = [None] * len(deliveries)

    def work() -> None:
        client = worker_app.test_client()
        barrier.wait()
        while True:
            with lock:
                if not queue:
                    return
                index, event = queue.pop()
            try:
                path = CONNECT_PATH if event.get("account") else PLATFORM_PATH
                secret = CONNECT_SECRET if event.get("account") else "whsec_test_platform"
                response = signed_post(client, path, event, secret)
                results[index] = (response.status_code, response.text)
            except Exception as exc:  # noqa: BLE001 - the assertion shows it
                results[index] = exc

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    with worker_app.app_context():
        db.engine.dispose()
    return results


def test_the_same_event_from_eight_workers_twenty_times_is_applied_once(
    app, migrated_database, mentee, stripe_fake
):
    coach, account = paid_coach(mentee, "100.00", "50.00", released_by=stripe_fake)
    event = payloads.event("balance.available", payloads.balance(8000), account=account)
    results = _deliver_concurrently(migrated_database, [event] * 20, threads=8)
    assert sorted(results) == [(200, "duplicate")] * 19 + [(200, "processed")]
    assert balances(coach) == ledger.Balances(D("120.00"), D("40.00"), D("80.00"))
    count = sa.select(sa.func.count()).select_from(LedgerEntry)
    assert db.session.scalar(count.where(LedgerEntry.kind == LedgerEntryKind.FUNDS_AVAILABLE)) == 1


def test_an_ignored_event_from_eight_workers_is_ignored_once_and_duplicate_after(
    app, migrated_database
):
    event = payloads.event("issuing_card.created", {"id": "ic_race", "object": "issuing.card"})
    results = _deliver_concurrently(migrated_database, [event] * 12, threads=8)
    assert sorted(results) == [(200, "duplicate")] * 11 + [(200, "ignored")]
    row = event_row(event["id"])
    assert (row.status, row.attempts) == (EventStatus.IGNORED, 1)


def test_two_events_about_one_payout_from_many_workers_make_one_payout(
    app, migrated_database, mentee
):
    coach, account = paid_coach(mentee, "100.00")
    release_in_ledger(coach)
    created = payloads.event(
        "payout.created", payloads.payout("po_race", 3000, status="pending"), account=account
    )
    paid = payloads.event(
        "payout.paid", payloads.payout("po_race", 3000, status="paid"), account=account
    )
    results = _deliver_concurrently(migrated_database, [created, paid] * 10, threads=8)
    assert all(r[0] == 200 for r in results), results
    payouts = db.session.scalars(sa.select(Payout)).all()
    assert [(p.stripe_payout_id, p.status) for p in payouts] == [("po_race", PayoutStatus.PAID)]
    assert balances(coach).available == D("50.00")
    assert ledger.verify() == []


def test_fifty_different_events_at_once_move_the_balance_to_the_exact_sum(
    app, migrated_database, mentee
):
    coach, account = paid_coach(mentee, "1000.00", "1000.00", "500.00")  # pending 2,000.00
    release_in_ledger(coach)  # available 2,000.00
    amounts = [1000 + 7 * n for n in range(50)]  # minor units, all different
    events = [
        payloads.event("payout.created", payloads.payout(f"po_{n}", a), account=account)
        for n, a in enumerate(amounts)
    ]
    results = _deliver_concurrently(migrated_database, events, threads=16)
    assert results == [(200, "processed")] * 50
    expected = D("2000.00") - sum(D(a) / 100 for a in amounts)
    assert balances(coach).available == expected
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "no drift" in result.output


def test_concurrent_deliveries_on_sqlite_do_not_crash(app, migrated_database, mentee, stripe_fake):
    if is_postgres(app):
        pytest.skip("the SQLite variant of the PostgreSQL tests above")
    coach, account = paid_coach(mentee, "100.00", released_by=stripe_fake)
    event = payloads.event("balance.available", payloads.balance(8000), account=account)
    results = _deliver_concurrently(migrated_database, [event] * 8, threads=4)
    assert sorted(results) == [(200, "duplicate")] * 7 + [(200, "processed")]
    assert balances(coach).available == D("80.00")
