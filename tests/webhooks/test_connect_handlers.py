"""Handlers for Connect and ledger events: payouts, balances, accounts and disputes (RELIABILITY
3, 11, 12 and 14), posted signed to the real endpoint."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

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
    StripeConnectedAccount,
    StripeEvent,
    Transaction,
    User,
)
from tests.builders import make_connected_account, make_payment, make_refund, make_user
from tests.webhooks import payloads
from tests.webhooks.signing import CONNECT_PATH, PLATFORM_PATH, signed_post

D = Decimal
CONNECT_SECRET = "whsec_test_connect"


def deliver(client, event: dict, path: str = CONNECT_PATH) -> str:
    secret = CONNECT_SECRET if path == CONNECT_PATH else "whsec_test_platform"
    response = signed_post(client, path, event, secret)
    assert response.status_code == 200, response.text
    return response.text


def balances(coach: User) -> ledger.Balances:
    db.session.expire_all()
    return ledger.balances_of(coach.id)


def coach_with_available(mentee: User) -> tuple[User, str]:
    """A coach whose one payment (share 80.00) Stripe has released; their account id."""
    coach = make_user(Role.COACH)
    account = make_connected_account(coach)
    ledger.record_payment(make_payment(coach, mentee, "100.00"))
    [held] = ledger.held_payments(coach.id)
    ledger.record_release(coach.id, held)
    db.session.commit()
    return coach, account.stripe_account_id


def paid(coach: User, mentee: User, price: str) -> Transaction:
    """A paid session of the coach's, recorded without its transfer, as a Checkout's own
    event records it."""
    transaction = make_payment(coach, mentee, price)
    ledger.record_payment(transaction)
    db.session.commit()
    return transaction


def released_event(account: str, available: int = 0, **kw) -> dict:
    """A `balance.available`; its snapshot says whatever it says: the portal asks Stripe."""
    return payloads.event("balance.available", payloads.balance(available), account=account, **kw)


def release_entries(coach: User) -> list[tuple[int, D, D]]:
    entry = LedgerEntry
    rows = db.session.execute(
        sa.select(entry.transaction_id, entry.pending_delta, entry.available_delta)
        .where(entry.coach_id == coach.id, entry.kind == LedgerEntryKind.FUNDS_AVAILABLE)
        .order_by(entry.id)
    )
    return [tuple(row) for row in rows]


def payout_event(type_: str, account: str, status: str, amount: int = 5000, **kw) -> dict:
    return payloads.event(
        type_, payloads.payout("po_1", amount, status=status, **kw), account=account
    )


def only_payout() -> Payout:
    db.session.expire_all()
    (payout,) = db.session.scalars(sa.select(Payout)).all()
    return payout


# --- payouts ------------------------------------------------------------------------------------


def test_a_created_payout_is_recorded_and_leaves_the_available_balance(client, mentee):
    coach, account = coach_with_available(mentee)
    arrival = int(time.time()) + 86400
    deliver(client, payout_event("payout.created", account, "pending", arrival_date=arrival))
    payout = only_payout()
    assert (payout.amount, payout.currency, payout.status) == (D("50.00"), "USD", "pending")
    assert payout.user_id == coach.id
    assert payout.arrival_date == datetime.fromtimestamp(arrival, UTC)
    assert balances(coach).available == D("30.00")


def test_a_payout_moves_forward_through_in_transit_to_paid(client, mentee):
    coach, account = coach_with_available(mentee)
    for type_, status in [
        ("payout.created", "pending"),
        ("payout.updated", "in_transit"),
        ("payout.paid", "paid"),
    ]:
        deliver(client, payout_event(type_, account, status))
        assert only_payout().status == status
    assert balances(coach).available == D("30.00")
    assert ledger.verify() == []


def test_payout_paid_before_payout_created_leaves_one_paid_payout(client, mentee):
    coach, account = coach_with_available(mentee)
    deliver(client, payout_event("payout.paid", account, "paid"))
    deliver(client, payout_event("payout.updated", account, "in_transit"))
    deliver(client, payout_event("payout.created", account, "pending"))
    payout = only_payout()
    assert payout.status is PayoutStatus.PAID
    assert balances(coach).available == D("30.00")
    assert ledger.verify() == []


def test_a_paid_payout_that_then_fails_gives_the_money_back(client, mentee):
    coach, account = coach_with_available(mentee)
    deliver(client, payout_event("payout.created", account, "pending"))
    deliver(client, payout_event("payout.paid", account, "paid"))
    deliver(client, payout_event("payout.failed", account, "failed"))
    deliver(client, payout_event("payout.paid", account, "paid"))  # late: changes nothing
    payout = only_payout()
    assert payout.status is PayoutStatus.FAILED
    assert payout.meta["failure_code"] == "account_closed"
    assert balances(coach).available == D("80.00")
    assert ledger.verify() == []


def test_a_canceled_payout_gives_the_money_back_once(client, mentee):
    coach, account = coach_with_available(mentee)
    deliver(client, payout_event("payout.created", account, "pending"))
    deliver(client, payout_event("payout.canceled", account, "canceled"))
    deliver(client, payout_event("payout.canceled", account, "canceled"))  # another event id
    assert only_payout().status is PayoutStatus.CANCELED
    assert balances(coach).available == D("80.00")
    kinds = db.session.scalars(
        sa.select(LedgerEntry.kind).where(LedgerEntry.payout_id.is_not(None))
    )
    assert sorted(kinds) == [LedgerEntryKind.PAYOUT, LedgerEntryKind.PAYOUT_RETURNED]


def test_a_payout_first_seen_failed_is_taken_and_returned(client, mentee):
    coach, account = coach_with_available(mentee)
    deliver(client, payout_event("payout.failed", account, "failed"))
    assert only_payout().status is PayoutStatus.FAILED
    assert balances(coach).available == D("80.00")
    assert ledger.verify() == []


def test_a_payout_for_an_unknown_account_is_ignored(client):
    assert deliver(client, payout_event("payout.created", "acct_unknown", "pending")) == "ignored"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payout)) == 0


# --- balance.available --------------------------------------------------------------------------


def test_balance_available_moves_each_payment_stripe_released_and_nothing_else(
    client, mentee, stripe_fake
):
    coach = make_user(Role.COACH)
    account = make_connected_account(coach).stripe_account_id
    first, second, third = (paid(coach, mentee, p) for p in ("100.00", "50.00", "25.00"))
    stripe_fake.release(account, first)
    stripe_fake.release(account, second)
    # The snapshot (0.01 available) is not what decides: Stripe's word on each payment is.
    assert deliver(client, released_event(account, available=1)) == "processed"
    assert balances(coach) == ledger.Balances(D("140.00"), D("20.00"), D("120.00"))
    assert release_entries(coach) == [
        (first.id, D("-80.00"), D("80.00")),
        (second.id, D("-40.00"), D("40.00")),
    ]
    # Each payment's transfer, which its Checkout's event did not name, was asked once and kept.
    db.session.expire_all()
    known = {t.stripe_payment_intent_id: t.stripe_transfer_id for t in (first, second, third)}
    assert known == {pi: stripe_fake.transfers[pi] for pi in known}
    assert stripe_fake.count("payment_intents.retrieve") == 3
    deliver(client, released_event(account))  # nothing new: nothing moves, nothing is asked
    assert stripe_fake.count("payment_intents.retrieve") == 3
    assert balances(coach) == ledger.Balances(D("140.00"), D("20.00"), D("120.00"))
    assert ledger.verify() == []


def test_balance_available_for_coach_c_changes_only_coach_c(client, mentee, stripe_fake):
    coach_c = make_user(Role.COACH)
    coach_d = make_user(Role.COACH)
    account_c = make_connected_account(coach_c).stripe_account_id
    account_d = make_connected_account(coach_d).stripe_account_id
    for coach, account in ((coach_c, account_c), (coach_d, account_d)):
        stripe_fake.release(account, paid(coach, mentee, "100.00"))  # D's own event is to come
    deliver(client, released_event(account_c, available=8000))
    assert balances(coach_c) == ledger.Balances(D("80.00"), D("0.00"), D("80.00"))
    assert balances(coach_d) == ledger.Balances(D("80.00"), D("80.00"), D("0.00"))
    asked = {d["account"] for op, d in stripe_fake.calls if op == "balance_transactions.list"}
    assert asked == {account_c}


def test_a_release_event_delayed_past_a_refund_moves_the_released_payment_once(
    client, mentee, stripe_fake
):
    # The soak's split: Stripe released the first payment, then reversed 40.00 of it for a
    # refund (from available); the release's event, whose snapshot (80.00 available) predates
    # the reversal, arrives after the refund. Then the same news again, and an older event.
    coach = make_user(Role.COACH)
    account = make_connected_account(coach).stripe_account_id
    first, second = paid(coach, mentee, "100.00"), paid(coach, mentee, "50.00")
    stripe_fake.release(account, first)
    now = int(time.time())
    delayed = released_event(account, available=8000, created=now - 5)
    ledger.record_refund(make_refund(first, "50.00"))  # 40.00 back from available
    db.session.commit()
    assert deliver(client, delayed) == "processed"
    after = ledger.Balances(D("80.00"), D("40.00"), D("40.00"))  # Stripe's: second pending
    assert balances(coach) == after
    assert deliver(client, delayed) == "duplicate"
    again = released_event(account, available=8000, created=now)  # another id, same news
    older = released_event(account, available=12000, created=now - 60)  # reordered
    assert [deliver(client, again), deliver(client, older)] == ["processed"] * 2
    assert balances(coach) == after
    assert release_entries(coach) == [(first.id, D("-80.00"), D("80.00"))]
    stripe_fake.release(account, second)  # later, Stripe releases the second
    deliver(client, released_event(account, available=4000, created=now + 1))
    assert balances(coach) == ledger.Balances(D("80.00"), D("0.00"), D("80.00"))
    assert ledger.verify() == []


def test_balance_available_while_stripe_cannot_be_reached_fails_and_is_retried(
    client, mentee, stripe_fake
):
    coach = make_user(Role.COACH)
    account = make_connected_account(coach).stripe_account_id
    stripe_fake.release(account, paid(coach, mentee, "100.00"))
    event = released_event(account)
    stripe_fake.down = True
    response = signed_post(client, CONNECT_PATH, event, CONNECT_SECRET)
    assert response.status_code == 500
    assert balances(coach) == ledger.Balances(D("80.00"), D("80.00"), D("0.00"))
    stripe_fake.down = False
    assert deliver(client, event) == "processed"
    assert balances(coach) == ledger.Balances(D("80.00"), D("0.00"), D("80.00"))


def test_balance_available_with_nothing_held_asks_stripe_nothing(client, mentee, stripe_fake):
    coach, account = coach_with_available(mentee)
    assert deliver(client, released_event(account, available=8000)) == "processed"
    assert stripe_fake.calls == []
    assert balances(coach) == ledger.Balances(D("80.00"), D("0.00"), D("80.00"))


# --- account.updated ----------------------------------------------------------------------------


def account_row(coach: User) -> StripeConnectedAccount:
    db.session.expire_all()
    return db.session.scalar(
        sa.select(StripeConnectedAccount).where(StripeConnectedAccount.user_id == coach.id)
    )


def test_account_updated_for_coach_c_changes_only_coach_c(client):
    coach_c, coach_d = make_user(Role.COACH), make_user(Role.COACH)
    account_c = make_connected_account(coach_c, charges_enabled=False).stripe_account_id
    make_connected_account(coach_d, charges_enabled=False)
    obj = payloads.account(account_c, country="de", default_currency="eur")
    deliver(client, payloads.event("account.updated", obj, account=account_c))
    c, d = account_row(coach_c), account_row(coach_d)
    assert (c.charges_enabled, c.payouts_enabled, c.details_submitted) == (True, True, True)
    assert (c.requires_onboarding, c.verification_status) == (False, "verified")
    assert (c.country, c.default_currency, c.business_type) == ("DE", "EUR", "individual")
    assert c.business_profile["mcc"] == "8299"
    assert c.requirements["currently_due"] == []
    assert (d.charges_enabled, d.payouts_enabled, d.requires_onboarding) == (False, False, True)


def test_an_account_with_requirements_due_still_needs_onboarding(client):
    coach = make_user(Role.COACH)
    account = make_connected_account(coach).stripe_account_id
    obj = payloads.account(
        account, charges_enabled=False, payouts_enabled=False, currently_due=["external_account"]
    )
    deliver(client, payloads.event("account.updated", obj, account=account))
    row = account_row(coach)
    assert (row.charges_enabled, row.requires_onboarding) == (False, True)
    assert row.verification_status == "disabled"
    assert row.requirements["currently_due"] == ["external_account"]


def test_account_updated_for_an_unknown_account_is_ignored(client):
    obj = payloads.account("acct_stranger")
    assert deliver(client, payloads.event("account.updated", obj, account="acct_stranger")) == (
        "ignored"
    )


# --- disputes -----------------------------------------------------------------------------------


def test_a_dispute_flags_the_transaction_and_leaves_the_coach_balance(client, mentee, coach):
    txn = make_payment(coach, mentee, "100.00", payment_intent="pi_disputed")
    ledger.record_payment(txn)
    db.session.commit()
    created = payloads.event("charge.dispute.created", payloads.dispute("pi_disputed", 10000))
    deliver(client, created, PLATFORM_PATH)
    db.session.expire_all()
    flag = db.session.get(Transaction, txn.id).meta["dispute"]
    assert (flag["status"], flag["reason"], flag["amount"]) == (
        "needs_response",
        "fraudulent",
        "100.00",
    )
    assert flag["needs_review"] is True and flag["closed"] is False

    closed_obj = {**created["data"]["object"], "status": "lost"}
    deliver(client, payloads.event("charge.dispute.closed", closed_obj), PLATFORM_PATH)
    deliver(client, created | {"id": "evt_late_created"}, PLATFORM_PATH)  # late: no change
    db.session.expire_all()
    flag = db.session.get(Transaction, txn.id).meta["dispute"]
    assert (flag["status"], flag["closed"]) == ("lost", True)
    assert balances(coach) == ledger.Balances(D("80.00"), D("80.00"), D("0.00"))
    assert ledger.verify() == []


def test_the_dispute_events_record_stripes_funds_and_fee_and_never_move_back(client, mentee, coach):
    txn = make_payment(coach, mentee, "100.00", payment_intent="pi_won")
    db.session.commit()
    opened = payloads.dispute("pi_won", 10000)
    withdrawal = {"id": "txn_w", "amount": -10000, "fee": 1500, "currency": "usd"}
    reinstatement = {"id": "txn_r", "amount": 10000, "fee": 0, "currency": "usd"}
    withdrawn = {**opened, "balance_transactions": [withdrawal]}
    submitted = {
        **withdrawn,
        "status": "under_review",
        "evidence_details": {**opened["evidence_details"], "submission_count": 1},
    }
    won = {**submitted, "status": "won", "balance_transactions": [withdrawal, reinstatement]}
    # Stripe's order was withdrawn, updated, reinstated, closed; they arrive shuffled.
    for kind, obj in (
        ("charge.dispute.funds_reinstated", won),
        ("charge.dispute.updated", submitted),
        ("charge.dispute.funds_withdrawn", withdrawn),
        ("charge.dispute.closed", won),
    ):
        assert deliver(client, payloads.event(kind, obj), PLATFORM_PATH) == "processed"
    db.session.expire_all()
    flag = db.session.get(Transaction, txn.id).meta["dispute"]
    assert (flag["status"], flag["closed"], flag["submitted"]) == ("won", True, True)
    assert (flag["withdrawn"], flag["reinstated"], flag["fee"]) == ("100.00", "100.00", "15.00")
    assert flag["due_by"] == opened["evidence_details"]["due_by"]


def test_a_dispute_on_a_payment_not_recorded_yet_is_kept_waiting_for_it(client):
    event = payloads.event("charge.dispute.created", payloads.dispute("pi_unknown", 500))
    assert deliver(client, event, PLATFORM_PATH) == "deferred"
    assert deliver(client, event, PLATFORM_PATH) == "deferred"  # a redelivery is no duplicate
    row = db.session.scalar(
        sa.select(StripeEvent).where(StripeEvent.stripe_event_id == event["id"])
    )
    assert (row.status, row.waiting_for) == (EventStatus.DEFERRED, "pi_unknown")
