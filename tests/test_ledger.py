"""The ledger: each rule, each function's idempotency, and `verify` catching every kind of drift."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from portal import ledger
from portal.extensions import db
from portal.ledger import Balances
from portal.models import (
    CoachProfile,
    LedgerEntry,
    LedgerEntryKind,
    Payout,
    PayoutStatus,
    Role,
    StripeConnectedAccount,
    Transaction,
    User,
)
from portal.money import split_fee
from tests.builders import make_connected_account, make_payment, make_refund, make_user
from tests.conftest import make_app

D = Decimal


def balances(coach: User) -> Balances:
    db.session.expire_all()
    return ledger.balances_of(coach.id)


def make_payout(coach: User, amount: str, status: PayoutStatus = PayoutStatus.PENDING) -> Payout:
    account = db.session.scalar(
        sa.select(StripeConnectedAccount).where(StripeConnectedAccount.user_id == coach.id)
    ) or make_connected_account(coach)
    payout = Payout(
        stripe_payout_id=f"po_test_{coach.id}_{amount}_{status}",
        amount=D(amount),
        currency="USD",
        status=status,
        user_id=coach.id,
        connected_account_id=account.id,
    )
    db.session.add(payout)
    db.session.commit()
    return payout


def test_a_paid_session_adds_the_coach_share_to_total_and_pending(coach, mentee):
    txn = make_payment(coach, mentee, "100.00", fee_percentage="20")
    entry_id = ledger.record_payment(txn, stripe_event_id="evt_1")
    db.session.commit()
    entry = db.session.get(LedgerEntry, entry_id)
    assert entry is not None and entry.kind is LedgerEntryKind.PAYMENT
    assert (entry.transaction_id, entry.stripe_event_id) == (txn.id, "evt_1")
    assert balances(coach) == Balances(D("80.00"), D("80.00"), D("0.00"))


def test_recording_a_payment_twice_changes_nothing_the_second_time(coach, mentee):
    txn = make_payment(coach, mentee, "100.00")
    ledger.record_payment(txn)
    assert ledger.record_payment(txn) is None
    db.session.commit()
    assert balances(coach).total == D("80.00")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 1


def test_a_second_entry_for_one_cause_is_refused_by_its_unique_index_without_breaking_the_caller(
    coach, mentee
):
    txn = make_payment(coach, mentee, "100.00")
    ledger.record_payment(txn)
    db.session.commit()
    assert ledger.record_payment(txn) is None  # the unique index decides, in one statement
    [held] = ledger.held_payments(coach.id)
    assert ledger.record_release(coach.id, held) is not None  # the caller's transaction goes on
    assert ledger.record_release(coach.id, held) is None  # one release per payment, likewise
    db.session.commit()
    assert balances(coach) == Balances(D("80.00"), D("0.00"), D("80.00"))
    assert ledger.verify() == []


def test_the_ledger_works_in_the_callers_transaction_and_never_commits(coach, mentee):
    txn = make_payment(coach, mentee, "100.00")
    ledger.record_payment(txn)
    db.session.rollback()
    assert balances(coach).total == D("0.00")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 0


def release(coach: User, transaction: Transaction) -> int | None:
    """Stripe released this payment: the ledger moves it, as `payouts.release_funds` does."""
    [held] = [h for h in ledger.held_payments(coach.id) if h.transaction_id == transaction.id]
    return ledger.record_release(coach.id, held)


def test_held_payments_are_the_paid_sessions_not_yet_released_oldest_first(coach, mentee):
    first = make_payment(coach, mentee, "100.00")
    second = make_payment(coach, mentee, "50.00")
    second.stripe_transfer_id = "tr_second"
    for txn in (first, second):
        ledger.record_payment(txn)
    make_payment(coach, mentee, "70.00")  # paid, but the ledger has not heard yet: not held
    db.session.commit()
    held = ledger.held_payments(coach.id)
    assert [(h.transaction_id, h.share, h.currency) for h in held] == [
        (first.id, D("80.00"), "USD"),
        (second.id, D("40.00"), "USD"),
    ]
    assert [(h.stripe_payment_intent_id, h.stripe_transfer_id) for h in held] == [
        (first.stripe_payment_intent_id, None),
        (second.stripe_payment_intent_id, "tr_second"),
    ]
    # A payment without a booking is held since its transaction was made, as a UTC moment.
    assert held[0].since == first.created_at and held[0].since.utcoffset() is not None

    release(coach, first)
    db.session.commit()
    assert [h.transaction_id for h in ledger.held_payments(coach.id)] == [second.id]
    assert balances(coach) == Balances(D("120.00"), D("40.00"), D("80.00"))


def test_a_payment_is_released_once_whatever_asks_again(coach, mentee):
    txn = make_payment(coach, mentee, "100.00")
    ledger.record_payment(txn)
    [held] = ledger.held_payments(coach.id)  # two callers read the same held payment
    first = ledger.record_release(coach.id, held)
    again = ledger.record_release(coach.id, held)
    db.session.commit()
    assert first is not None and again is None
    entry = db.session.get(LedgerEntry, first)
    assert (entry.kind, entry.transaction_id, entry.stripe_event_id) == (
        LedgerEntryKind.FUNDS_AVAILABLE,
        txn.id,
        None,
    )
    assert (entry.total_delta, entry.pending_delta, entry.available_delta) == (
        D("0.00"),
        D("-80.00"),
        D("80.00"),
    )
    assert balances(coach) == Balances(D("80.00"), D("0.00"), D("80.00"))
    assert ledger.held_payments(coach.id) == []
    assert coach.coach_profile.ledger_entry_count == 2
    assert ledger.verify() == []


def test_a_release_moves_the_whole_share_even_after_a_refund_of_the_payment(coach, mentee):
    # Stripe took the refund's 40.00 from available while the payment was pending; releasing the
    # payment then moves all of its 80.00, as Stripe's payment balance transaction does.
    txn = make_payment(coach, mentee, "100.00")
    ledger.record_payment(txn)
    ledger.record_refund(make_refund(txn, "50.00"))
    db.session.commit()
    assert balances(coach) == Balances(D("40.00"), D("80.00"), D("-40.00"))
    release(coach, txn)
    db.session.commit()
    assert balances(coach) == Balances(D("40.00"), D("0.00"), D("40.00"))
    assert ledger.verify() == []


def test_verify_finds_a_release_that_moved_the_wrong_amount(coach, mentee):
    txn = make_payment(coach, mentee, "100.00")
    ledger.record_payment(txn)
    entry = db.session.get(LedgerEntry, release(coach, txn))
    db.session.commit()
    assert ledger.verify() == []
    # as a snapshot of the balance once moved it: part of the payment, the balances agreeing
    entry.pending_delta, entry.available_delta = D("-50.00"), D("50.00")
    db.session.execute(
        sa.update(CoachProfile)
        .where(CoachProfile.user_id == coach.id)
        .values(pending_balance=D("30.00"), available_balance=D("50.00"))
    )
    db.session.commit()
    assert [str(d) for d in ledger.verify()] == [
        f"coach {coach.id}: transaction {txn.id}'s release moved pending -50.00, available "
        "50.00; its payment put 80.00 in pending"
    ]


def test_a_refund_is_taken_from_available_as_stripe_does_and_leaves_pending(coach, mentee):
    first = make_payment(coach, mentee, "100.00")
    ledger.record_payment(first)
    release(coach, first)
    ledger.record_payment(make_payment(coach, mentee, "25.00"))  # pending 20.00, available 80.00
    refund = make_refund(first, "50.00")  # coach share reversed: 40.00
    entry = db.session.get(LedgerEntry, ledger.record_refund(refund))
    db.session.commit()
    assert refund.coach_share_reversed == D("40.00")
    assert (entry.pending_delta, entry.available_delta) == (D("0.00"), D("-40.00"))
    assert balances(coach) == Balances(D("60.00"), D("20.00"), D("40.00"))
    assert ledger.record_refund(refund) is None


def test_a_refund_of_a_payment_still_pending_takes_available_below_zero(coach, mentee):
    first = make_payment(coach, mentee, "100.00")
    ledger.record_payment(first)
    ledger.record_refund(make_refund(first, "100.00"))
    db.session.commit()
    assert balances(coach) == Balances(D("0.00"), D("80.00"), D("-80.00"))
    assert ledger.verify() == []


def test_verify_finds_a_refund_entry_taken_from_pending(coach, mentee):
    first = make_payment(coach, mentee, "100.00")
    ledger.record_payment(first)
    refund = make_refund(first, "50.00")
    entry = db.session.get(LedgerEntry, ledger.record_refund(refund))
    entry.pending_delta, entry.available_delta = D("-40.00"), D("0.00")
    db.session.execute(
        sa.update(CoachProfile)
        .where(CoachProfile.user_id == coach.id)
        .values(pending_balance=D("40.00"), available_balance=D("0.00"))
    )
    db.session.commit()
    assert [d.problem for d in ledger.verify()] == [
        f"refund {refund.id} took 40.00 from the coach, but its entry moved total -40.00, "
        "pending -40.00, available 0.00"
    ]


def test_a_payout_leaves_available_and_a_failed_one_comes_back(coach, mentee):
    txn = make_payment(coach, mentee, "100.00")
    ledger.record_payment(txn)
    release(coach, txn)
    payout = make_payout(coach, "50.00")
    ledger.record_payout(payout)
    assert ledger.record_payout(payout) is None
    db.session.commit()
    assert balances(coach).available == D("30.00")
    payout.status = PayoutStatus.FAILED
    ledger.record_payout_returned(payout)
    assert ledger.record_payout_returned(payout) is None
    db.session.commit()
    assert balances(coach) == Balances(D("80.00"), D("0.00"), D("80.00"))
    assert ledger.verify() == []


def test_a_recorded_dispute_reversal_takes_the_amount_back_once(coach, mentee):
    txn = make_payment(coach, mentee, "100.00")
    ledger.record_payment(txn)
    ledger.record_dispute_reversal(txn, D("80.00"), stripe_event_id="evt_d")
    assert ledger.record_dispute_reversal(txn, D("80.00"), stripe_event_id="evt_d2") is None
    db.session.commit()
    assert balances(coach) == Balances(D("0.00"), D("80.00"), D("-80.00"))


def test_verify_finds_a_dispute_recovery_its_entry_disagrees_with(coach, mentee):
    txn = make_payment(coach, mentee, "100.00")
    ledger.record_payment(txn)
    ledger.record_dispute_reversal(txn, D("80.00"), stripe_event_id="trr_1")
    txn.meta = {"dispute": {"id": "du_1", "status": "lost", "recovered": "80.00"}}
    db.session.commit()
    assert ledger.verify() == []
    txn.meta = {"dispute": {"id": "du_1", "status": "lost", "recovered": "79.99"}}
    db.session.commit()
    assert [str(d) for d in ledger.verify()] == [
        f"coach {coach.id}: transaction {txn.id}'s dispute recovered 79.99, but its dispute "
        "entry took 80.00"
    ]


def test_payment_without_a_coach_moves_no_balance(coach, mentee):
    txn = make_payment(coach, mentee, "100.00")
    txn.coach_id = None
    db.session.commit()
    assert ledger.record_payment(txn) is None


def test_a_balance_change_for_a_user_without_a_coach_profile_fails_and_writes_nothing(mentee):
    other = make_user(Role.MENTEE)
    txn = make_payment(other, mentee, "100.00")  # "paid to" a user who has no profile
    with pytest.raises(ledger.LedgerError):
        ledger.record_payment(txn)
    held = ledger.HeldPayment(txn.id, None, None, D("80.00"), "USD", txn.created_at)
    with pytest.raises(ledger.LedgerError):
        ledger.record_release(other.id, held)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 0


def test_a_zero_decimal_currency_is_recorded_exactly(mentee):
    coach = make_user(Role.COACH, currency="JPY")
    txn = make_payment(coach, mentee, "5000", fee_percentage="15", currency="JPY")
    ledger.record_payment(txn)
    db.session.commit()
    assert balances(coach).pending == D("4250")


# --- verify ---------------------------------------------------------------------------------


def verify_cli(app: Flask):
    return app.test_cli_runner().invoke(args=["ledger", "verify"])


def test_verify_passes_a_sound_ledger(app, coach, mentee):
    ledger.record_payment(make_payment(coach, mentee, "100.00"))
    db.session.commit()
    assert ledger.verify() == []
    result = verify_cli(app)
    assert result.exit_code == 0, result.output
    assert "Ledger verified: 1 coaches, no drift." in result.output


def test_verify_finds_a_balance_tampered_with_outside_the_ledger(app, coach, mentee):
    ledger.record_payment(make_payment(coach, mentee, "100.00"))
    db.session.commit()
    db.session.execute(
        sa.text("UPDATE coach_profiles SET available_balance = 5 WHERE user_id = :c"),
        {"c": coach.id},
    )
    db.session.commit()
    drift = ledger.verify()
    assert [d.problem for d in drift] == [
        "available_balance is 5.00 but its entries add up to 0.00"
    ]
    result = verify_cli(app)
    assert result.exit_code == 1
    assert "available_balance is 5.00" in result.output


def test_every_entry_is_counted_on_the_profile_and_verify_notices_a_wrong_count(coach, mentee):
    ledger.record_payment(make_payment(coach, mentee, "100.00"))
    ledger.record_payment(make_payment(coach, mentee, "50.00"))
    db.session.commit()
    assert coach.coach_profile.ledger_entry_count == 2
    assert ledger.verify() == []

    db.session.execute(
        sa.text("UPDATE coach_profiles SET ledger_entry_count = 1 WHERE user_id = :c"),
        {"c": coach.id},
    )
    db.session.commit()
    assert [d.problem for d in ledger.verify()] == ["counts 1 ledger entries but has 2"]


def test_verify_finds_a_paid_transaction_with_its_entry_deleted(coach, mentee):
    txn = make_payment(coach, mentee, "100.00")
    ledger.record_payment(txn)
    db.session.commit()
    db.session.execute(sa.delete(LedgerEntry))
    db.session.commit()
    problems = [d.problem for d in ledger.verify()]
    assert f"paid transaction {txn.id} has no payment entry" in problems
    assert "total_earnings is 80.00 but its entries add up to 0.00" in problems


def test_verify_finds_a_payment_entry_that_disagrees_with_the_transaction(coach, mentee):
    txn = make_payment(coach, mentee, "100.00")
    ledger.record_payment(txn)
    db.session.commit()
    db.session.execute(
        sa.text("UPDATE transactions SET coach_payout = 70, platform_fee = 30 WHERE id = :t"),
        {"t": txn.id},
    )
    db.session.commit()
    assert [d.problem for d in ledger.verify()] == [
        f"transaction {txn.id} paid 70.00 to the coach, entry says 80.00"
    ]


def test_verify_finds_a_succeeded_refund_without_its_entry(coach, mentee):
    txn = make_payment(coach, mentee, "100.00")
    ledger.record_payment(txn)
    db.session.commit()
    refund = make_refund(txn, "100.00")
    assert [d.problem for d in ledger.verify()] == [
        f"succeeded refund {refund.id} (80.00) has no refund entry"
    ]


def test_verify_finds_payouts_not_taken_or_not_returned(coach, mentee):
    live = make_payout(coach, "10.00")
    failed = make_payout(coach, "20.00", PayoutStatus.FAILED)
    ledger.record_payout(failed)
    db.session.commit()
    problems = {d.problem for d in ledger.verify()}
    assert f"payout {live.id} (pending) has no payout entry" in problems
    assert f"payout {failed.id} is failed but was not returned" in problems


def test_verify_finds_a_payment_entry_for_an_unpaid_transaction(coach, mentee):
    txn = make_payment(coach, mentee, "100.00")
    ledger.record_payment(txn)
    db.session.commit()
    db.session.execute(
        sa.text("UPDATE transactions SET status = 'failed' WHERE id = :t"), {"t": txn.id}
    )
    db.session.commit()
    assert [d.problem for d in ledger.verify()] == [
        f"transaction {txn.id} is failed but has a payment entry"
    ]


# --- concurrency (both databases) ---------------------------------------------------------------


def test_fifty_payments_recorded_concurrently_add_up_exactly(app, migrated_database, mentee):
    coach = make_user(Role.COACH)
    prices = [D("10.00") + D(n) + D("0.37") for n in range(50)]
    txn_ids = [make_payment(coach, mentee, str(p)).id for p in prices]
    worker_app = make_app(
        migrated_database, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": len(txn_ids), "max_overflow": 0}
    )
    barrier = threading.Barrier(len(txn_ids), timeout=30)
    errors: list[BaseException] = []

    def pay(txn_id: int) -> None:
        try:
            with worker_app.app_context():
                txn = db.session.get(Transaction, txn_id)
                barrier.wait()
                ledger.record_payment(txn)
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=pay, args=(t,)) for t in txn_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with worker_app.app_context():
        db.engine.dispose()
    assert errors == []
    expected = sum(split_fee(p, D("20"), "USD").coach_share for p in prices)
    assert balances(coach) == Balances(expected, expected, D("0.00"))
    result = verify_cli(app)
    assert result.exit_code == 0, result.output
