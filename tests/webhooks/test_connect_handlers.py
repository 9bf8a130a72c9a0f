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
from tests.builders import make_connected_account, make_payment, make_user
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


def coach_with_available(mentee: User, available: str = "80.00") -> tuple[User, str]:
    coach = make_user(Role.COACH)
    account = make_connected_account(coach)
    ledger.record_payment(make_payment(coach, mentee, "100.00"))
    ledger.record_funds_available(coach.id, "USD", D(available), stripe_event_id=f"evt_{coach.id}")
    db.session.commit()
    return coach, account.stripe_account_id


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


def test_balance_available_for_coach_c_changes_only_coach_c(client, mentee):
    coach_c = make_user(Role.COACH)
    coach_d = make_user(Role.COACH)
    account_c = make_connected_account(coach_c).stripe_account_id
    make_connected_account(coach_d)
    for coach in (coach_c, coach_d):
        ledger.record_payment(make_payment(coach, mentee, "100.00"))
    db.session.commit()
    deliver(client, payloads.event("balance.available", payloads.balance(6000), account=account_c))
    assert balances(coach_c) == ledger.Balances(D("80.00"), D("20.00"), D("60.00"))
    assert balances(coach_d) == ledger.Balances(D("80.00"), D("80.00"), D("0.00"))


def test_an_older_balance_event_arriving_late_moves_nothing(client, mentee):
    coach = make_user(Role.COACH)
    account = make_connected_account(coach).stripe_account_id
    ledger.record_payment(make_payment(coach, mentee, "100.00"))
    db.session.commit()
    now = int(time.time())
    newer = payloads.event(
        "balance.available", payloads.balance(3000), account=account, created=now
    )
    older = payloads.event(
        "balance.available", payloads.balance(8000), account=account, created=now - 60
    )
    assert deliver(client, newer) == "processed"
    assert deliver(client, older) == "ignored"
    assert balances(coach).available == D("30.00")


def test_a_balance_in_another_currency_moves_nothing(client, mentee):
    coach = make_user(Role.COACH)
    account = make_connected_account(coach).stripe_account_id
    ledger.record_payment(make_payment(coach, mentee, "100.00"))
    db.session.commit()
    event = payloads.event(
        "balance.available", payloads.balance(5000, currency="eur"), account=account
    )
    assert deliver(client, event) == "ignored"
    assert balances(coach).available == D("0.00")


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
