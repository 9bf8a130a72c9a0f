"""The ledger: the only code that moves a coach's balances.

What it promises:

- `CoachProfile.total_earnings`, `pending_balance` and `available_balance` change here and
  nowhere else. Every change writes one `LedgerEntry` naming its cause (the transaction, refund,
  payout or Stripe event) and applies the same deltas to the profile, in the caller's database
  transaction (flush, never commit), so the row that explains a change and the change itself
  commit or roll back together. The same `UPDATE` adds one to `ledger_entry_count`.
- Each function locks the coach's profile row before it writes the entry, which serialises every
  balance change of one coach: the entry's own `INSERT ... SELECT ... FROM coach_profiles ...
  FOR UPDATE` takes the lock. No rule reads the balances to decide its deltas; they are applied
  with an atomic `UPDATE ... SET x = x + :delta`, never read-modify-write in Python. The
  coach's lock comes before any of the coach's payment rows, whose locks a release takes under
  it: a caller that locks or writes a payment and then moves money takes it first
  (`lock_payment`, `lock_coach`).
- Each function is idempotent: it returns the new entry's id, and a second call for the same
  cause returns None and changes nothing. The entry is written with `INSERT ... ON CONFLICT DO
  NOTHING RETURNING` under the coach's lock: the unique indexes on `ledger_entries` (one per kind
  of cause) decide in the same statement, and a duplicate inserts nothing and raises nothing, so
  it cannot poison the caller's transaction; the balances move only when the entry was inserted.
- `verify()` recomputes every balance from the entries and checks that every row that should
  have moved money has exactly its entry, that each release moved its payment's share, each
  refund's entry took what the refund records from available, and each lost dispute's entry
  what its recovery records (`flask reconcile` compares those records with Stripe).

The rules are Stripe's for the coach's connected account, so that after any money-moving event
the coach's pending and available equal that account's balance (DESIGN rule 7):

- a paid session adds the coach's share to total and pending;
- a payment's share moves from pending to available when Stripe reports that payment's balance
  transaction available (`record_release`, one entry per payment), never by comparing
  balances: a `balance.available` event's snapshot is stale once later money has moved, and
  Stripe releases whole payments;
- a refund takes back what Stripe took from the coach's account for it, as Stripe reports it
  (`record_stripe_refund`: the transfer reversal, less the application fee refund when the fee
  was collected from the account), never a split computed here. Stripe debits a transfer
  reversal from the AVAILABLE balance, which may go below zero; pending is untouched. A
  recorded dispute reversal is taken the same way;
- a payout takes its amount from available, and a failed or canceled payout gives it back;
- an instant payout's fee, as Stripe reports it on the payout's balance transaction, leaves
  available too (`record_payout_fee`); Stripe keeps it even when the payout fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click
import sqlalchemy as sa
from flask.cli import AppGroup
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.inserts import DialectInsert, once_per_dialect
from portal.models import (
    RETURNED_PAYOUT_STATUSES,
    Booking,
    CoachProfile,
    LedgerEntry,
    LedgerEntryKind,
    Payout,
    Refund,
    RefundStatus,
    StripeConnectedAccount,
    Transaction,
    TransactionStatus,
    TransactionType,
    utcnow,
)
from portal.money import from_minor_units, to_minor_units

if TYPE_CHECKING:
    from portal.stripe_gateway.refunds import StripeSplit

logger = logging.getLogger("portal.ledger")
ZERO = Decimal("0.00")

PAID_TRANSACTION_STATUSES = (
    TransactionStatus.COMPLETED,
    TransactionStatus.REFUNDED,
    TransactionStatus.PARTIALLY_REFUNDED,
)


class LedgerError(RuntimeError):
    """A balance change the ledger cannot make (no coach profile, for instance)."""


@dataclass(frozen=True)
class Balances:
    total: Decimal
    pending: Decimal
    available: Decimal


@dataclass(frozen=True)
class Drift:
    """One way the balances disagree with the rows that should explain them."""

    coach_id: int | None
    problem: str

    def __str__(self) -> str:
        who = f"coach {self.coach_id}" if self.coach_id is not None else "ledger"
        return f"{who}: {self.problem}"


# --- the rules ------------------------------------------------------------------------------


def record_payment(transaction: Transaction, *, stripe_event_id: str | None = None) -> int | None:
    """A paid session: the coach's share joins total earnings and the pending balance."""
    if transaction.coach_id is None:
        return None
    entry = record_session_payment(
        transaction_id=transaction.id,
        coach_id=transaction.coach_id,
        coach_share=transaction.coach_share,
        currency=transaction.currency,
        stripe_event_id=stripe_event_id,
    )
    return entry.entry_id if entry is not None else None


@dataclass(frozen=True)
class PaymentEntry:
    """A paid session's entry, written: its id, and the coach's connected account as the
    balances' `UPDATE` read it, under the coach's lock (both None when there is no account)."""

    entry_id: int
    stripe_account_id: str | None
    balance_released_at: datetime | None  # Stripe's last release of funds on the account


def record_session_payment(
    *,
    transaction_id: int,
    coach_id: int,
    coach_share: Decimal,
    currency: str,
    stripe_event_id: str | None = None,
) -> PaymentEntry | None:
    """`record_payment` from the transaction's values, for a caller that has no Transaction.

    The entry comes back with the account's last release of funds, which a payment recorded
    after that release must catch up on (`payouts.release_funds`): read by the balances'
    `UPDATE`, where the coach's lock is held, so a release committing meanwhile is seen."""
    written = _write(
        coach_id,
        LedgerEntryKind.PAYMENT,
        currency=currency,
        deltas=Balances(total=coach_share, pending=coach_share, available=ZERO),
        move=_MOVE_PAID_BALANCES,
        refs={"transaction_id": transaction_id, "stripe_event_id": stripe_event_id},
    )
    if written is None:
        return None
    entry_id, account = written
    return PaymentEntry(entry_id, *account)


def record_stripe_refund(refund: Refund, split: StripeSplit) -> int | None:
    """A refund as Stripe split it: its amounts are written on the refund, then moved.

    Stripe reports the charge's application fee refunds only in total, never per refund, so this
    refund's fee refund is the total to date less what the transaction's other refunds already
    recorded (those Stripe moved money for: succeeded ones, and ones that failed afterwards,
    whose fee refund Stripe keeps). In whatever order a transaction's refunds are applied, their
    fee refunds add up to Stripe's total, and so does what they take from the coach; the caller
    holds the refund's lock.
    """
    transaction = refund.transaction
    currency = refund.currency
    others = db.session.scalars(
        sa.select(Refund.platform_fee_refunded).where(
            Refund.transaction_id == transaction.id,
            Refund.transfer_reversed.is_not(None),
            Refund.id != refund.id,
        )
    ).all()
    recorded = to_minor_units(sum(others, ZERO), currency)
    fee_refunded = max(split.fee_refunded_to_date - recorded, 0)
    taken = split.transfer_reversed - (fee_refunded if split.fee_from_account else 0)
    refund.transfer_reversed = from_minor_units(split.transfer_reversed, currency)
    refund.platform_fee_refunded = from_minor_units(fee_refunded, currency)
    refund.coach_share_reversed = from_minor_units(taken, currency)
    db.session.flush()
    return record_refund(refund)


def record_refund(refund: Refund) -> int | None:
    """A succeeded refund: what it records as taken from the coach leaves total and available."""
    transaction = refund.transaction
    if transaction.coach_id is None or refund.coach_share_reversed == ZERO:
        return None
    return _record(
        transaction.coach_id,
        LedgerEntryKind.REFUND,
        currency=refund.currency,
        deltas=_taken_from_available(refund.coach_share_reversed),
        transaction_id=transaction.id,
        refund_id=refund.id,
    )


@dataclass(frozen=True)
class HeldPayment:
    """A paid session whose share the ledger still counts as pending."""

    transaction_id: int
    stripe_payment_intent_id: str | None
    stripe_transfer_id: str | None  # None when the payment was recorded from an event without it
    share: Decimal  # what its payment entry added to pending
    currency: str
    since: datetime  # no later than Stripe made the payment: when the booking was held


def held_payments(coach_id: int) -> list[HeldPayment]:
    """The coach's payments with a payment entry and no release entry, oldest first."""
    released = aliased(LedgerEntry)
    rows = db.session.execute(
        sa.select(
            LedgerEntry.transaction_id,
            Transaction.stripe_payment_intent_id,
            Transaction.stripe_transfer_id,
            LedgerEntry.pending_delta,
            LedgerEntry.currency,
            sa.func.coalesce(Booking.created_at, Transaction.created_at),
        )
        .join(Transaction, Transaction.id == LedgerEntry.transaction_id)
        .outerjoin(Booking, Booking.id == Transaction.session_id)
        .where(
            LedgerEntry.coach_id == coach_id,
            LedgerEntry.kind == LedgerEntryKind.PAYMENT,
            ~sa.exists().where(
                released.kind == LedgerEntryKind.FUNDS_AVAILABLE,
                released.transaction_id == LedgerEntry.transaction_id,
            ),
        )
        .order_by(LedgerEntry.id)
    ).all()
    return [HeldPayment(*row) for row in rows]


def record_release(coach_id: int, payment: HeldPayment) -> int | None:
    """Stripe made this payment available on the coach's account: its share moves from pending
    to available, once (one release entry per transaction)."""
    return _record(
        coach_id,
        LedgerEntryKind.FUNDS_AVAILABLE,
        currency=payment.currency,
        deltas=Balances(total=ZERO, pending=-payment.share, available=payment.share),
        transaction_id=payment.transaction_id,
    )


def record_payout(payout: Payout) -> int | None:
    """Money paid out to the coach's bank leaves the available balance."""
    return _record_payout_entry(payout, LedgerEntryKind.PAYOUT, -payout.amount)


def record_payout_returned(payout: Payout) -> int | None:
    """A failed or canceled payout: the money is back in the available balance."""
    return _record_payout_entry(payout, LedgerEntryKind.PAYOUT_RETURNED, payout.amount)


def record_payout_fee(payout: Payout, fee: Decimal) -> int | None:
    """Stripe's fee for an instant payout (its balance transaction's `fee`) leaves available."""
    if fee <= ZERO:
        return None
    return _record_payout_entry(payout, LedgerEntryKind.PAYOUT_FEE, -fee)


def _record_payout_entry(payout: Payout, kind: LedgerEntryKind, available: Decimal) -> int | None:
    """A payout's entry: it moves the available balance only, by `available` (signed)."""
    return _record(
        payout.user_id,
        kind,
        currency=payout.currency,
        deltas=Balances(total=ZERO, pending=ZERO, available=available),
        payout_id=payout.id,
    )


def record_dispute_reversal(
    transaction: Transaction, amount: Decimal, *, stripe_event_id: str
) -> int | None:
    """The platform recovered `amount` of a disputed payment from the coach (a transfer reversal).

    Only called when such a reversal is recorded (`portal.disputes`, which passes Stripe's
    reversal amount and its `trr_` id as `stripe_event_id`); a dispute by itself never moves the
    coach's balance (destination charges make disputes the platform's). One per transaction.
    """
    if transaction.coach_id is None or amount <= ZERO:
        return None
    return _record(
        transaction.coach_id,
        LedgerEntryKind.DISPUTE,
        currency=transaction.currency,
        deltas=_taken_from_available(amount),
        transaction_id=transaction.id,
        stripe_event_id=stripe_event_id,
    )


def balances_of(coach_id: int) -> Balances:
    """The coach's balances as the database holds them now."""
    row = db.session.execute(
        sa.select(
            CoachProfile.total_earnings,
            CoachProfile.pending_balance,
            CoachProfile.available_balance,
        ).where(CoachProfile.user_id == coach_id)
    ).one()
    return Balances(*row)


# --- how every rule is applied ---------------------------------------------------------------


def _taken_from_available(amount: Decimal) -> Balances:
    """Stripe debits a transfer reversal from the available balance, even below zero."""
    return Balances(total=-amount, pending=ZERO, available=-amount)


def _record(
    coach_id: int,
    kind: LedgerEntryKind,
    *,
    currency: str,
    deltas: Balances,
    **refs: object,
) -> int | None:
    """Write the entry `refs` names the cause of, and move the balances by `deltas`; None if
    it exists. The entry's insert takes the coach's lock itself."""
    written = _write(
        coach_id, kind, currency=currency, deltas=deltas, move=_MOVE_BALANCES, refs=refs
    )
    return written[0] if written is not None else None


def _write(
    coach_id: int,
    kind: LedgerEntryKind,
    *,
    currency: str,
    deltas: Balances,
    move: sa.Update,
    refs: dict[str, object],
) -> tuple[int, sa.Row[Any] | None] | None:
    """`_record`, moving the balances with `move`: the entry's id and the row `move` returns
    (None when it returns none); None when the entry exists."""
    entry_id = db.session.scalar(
        _insert_entry(),
        {
            "coach_id": coach_id,
            "kind": kind,
            "currency": currency.upper(),
            "total_delta": deltas.total,
            "pending_delta": deltas.pending,
            "available_delta": deltas.available,
            "transaction_id": None,
            "refund_id": None,
            "payout_id": None,
            "stripe_event_id": None,
            **refs,
            "created_at": utcnow(),
        },
    )
    if entry_id is None:  # nothing was inserted: a duplicate, or there is no profile
        lock_balances(coach_id)  # raises LedgerError when there is none
        logger.debug(
            "Ledger %s for coach %s already recorded; nothing changed.", kind.value, coach_id
        )
        return None
    moved = db.session.execute(
        move,
        {
            "coach_id": coach_id,
            "total": deltas.total,
            "pending": deltas.pending,
            "available": deltas.available,
        },
    )
    returned = moved.one() if moved.returns_rows else None
    _expire_loaded_profile(coach_id)
    logger.debug(  # the entry itself records the change; the caller logs what it was for
        "Ledger %s for coach %s: total %s, pending %s, available %s",
        kind.value,
        coach_id,
        deltas.total,
        deltas.pending,
        deltas.available,
    )
    return entry_id, returned


def lock_balances(coach_id: int) -> Balances:
    """Lock the coach's profile row for this transaction and read its balances (raises
    LedgerError when the user has no coach profile). Every entry's insert takes the same lock;
    a caller takes it first when what it reads must not miss a change being recorded."""
    row = db.session.execute(_LOCK_BALANCES, {"coach_id": coach_id}).one_or_none()
    if row is None:
        raise LedgerError(f"User {coach_id} has no coach profile; no balance can move.")
    return Balances(*row)


def lock_payment(query: sa.Select[tuple[Transaction]]) -> Transaction | None:
    """The payment `query` finds, locked for update after its coach's balances (None if none).

    One lock order for every path that locks a payment's row and moves that coach's money: the
    coach's balances first. A release holds them while its entries' foreign keys lock the
    coach's payments' rows, so a path that locked a payment first and then waited for the
    balances at its own entry would wait for the release while the release waited for it. The
    coach is read without a lock: a payment's coach never changes."""
    found = db.session.execute(
        query.with_only_columns(Transaction.id, Transaction.coach_id)
    ).first()
    if found is None:
        return None
    lock_coach(found.coach_id)
    # A row this session loaded before the lock is read again: its values are the locked ones.
    return db.session.scalar(
        sa.select(Transaction)
        .where(Transaction.id == found.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def lock_coach(coach_id: int | None) -> None:
    """Take the coach's balance lock (nothing when there is no coach, or no profile) before
    writing any of the coach's payment rows, in the order `lock_payment` explains."""
    if coach_id is not None:
        db.session.execute(_LOCK_BALANCES, {"coach_id": coach_id})


# The statements every balance change runs, built once: building one costs more than running it.
_PROFILES = CoachProfile.__table__
_ENTRIES = LedgerEntry.__table__
_ENTRY_VALUES = (
    "kind",
    "currency",
    "total_delta",
    "pending_delta",
    "available_delta",
    "transaction_id",
    "refund_id",
    "payout_id",
    "stripe_event_id",
    "created_at",
)

_LOCK_BALANCES = (
    sa.select(
        _PROFILES.c.total_earnings, _PROFILES.c.pending_balance, _PROFILES.c.available_balance
    )
    .where(_PROFILES.c.user_id == sa.bindparam("coach_id"))
    .with_for_update()
)

_MOVE_BALANCES = (
    sa.update(_PROFILES)
    .where(_PROFILES.c.user_id == sa.bindparam("coach_id"))
    .values(
        # Rounded to the cent: SQLite adds NUMERIC values as floats, and a balance kept exact
        # compares exactly (`available_balance >= minimum_payout`) on both databases.
        total_earnings=sa.func.round(_PROFILES.c.total_earnings + sa.bindparam("total"), 2),
        pending_balance=sa.func.round(_PROFILES.c.pending_balance + sa.bindparam("pending"), 2),
        available_balance=sa.func.round(
            _PROFILES.c.available_balance + sa.bindparam("available"), 2
        ),
        ledger_entry_count=_PROFILES.c.ledger_entry_count + 1,
    )
)

_ACCOUNTS = StripeConnectedAccount.__table__


def _coach_account(column: sa.Column[Any]) -> sa.Label[Any]:
    return (
        sa.select(column)
        .where(_ACCOUNTS.c.user_id == sa.bindparam("coach_id"))
        .scalar_subquery()
        .label(column.name)
    )


# A paid session's balances also return the account's last release of funds: read under the
# coach's lock, in the statement that holds it, rather than by one more statement after it.
_MOVE_PAID_BALANCES = _MOVE_BALANCES.returning(
    _coach_account(_ACCOUNTS.c.stripe_account_id),
    _coach_account(_ACCOUNTS.c.balance_released_at),
)


@once_per_dialect
def _insert_entry(insert: DialectInsert) -> sa.Insert:
    """INSERT INTO ledger_entries SELECT :coach_id, ... FROM coach_profiles WHERE user_id =
    :coach_id FOR UPDATE ON CONFLICT DO NOTHING RETURNING id: the coach's row lock (already held
    or taken here) comes before the entry, and a coach without a profile gets none."""
    values = [sa.bindparam(name, type_=_ENTRIES.c[name].type) for name in _ENTRY_VALUES]
    locked_coach = (
        sa.select(_PROFILES.c.user_id, *values)
        .where(_PROFILES.c.user_id == sa.bindparam("coach_id"))
        .with_for_update()
    )
    return (
        insert(_ENTRIES)
        .from_select(["coach_id", *_ENTRY_VALUES], locked_coach)
        .on_conflict_do_nothing()
        .returning(_ENTRIES.c.id)
    )


def _expire_loaded_profile(coach_id: int) -> None:
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, CoachProfile) and obj.user_id == coach_id:
            db.session.expire(
                obj,
                ["total_earnings", "pending_balance", "available_balance", "ledger_entry_count"],
            )


# --- verification -----------------------------------------------------------------------------


def verify() -> list[Drift]:
    """Every way the balances and the rows disagree; an empty list means the ledger is sound."""
    return [
        *_balance_drift(),
        *_payment_drift(),
        *_release_drift(),
        *_refund_drift(),
        *_dispute_drift(),
        *_payout_drift(),
    ]


def coach_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(CoachProfile)) or 0


def _balance_drift() -> list[Drift]:
    sums = (
        sa.select(
            LedgerEntry.coach_id,
            sa.func.coalesce(sa.func.sum(LedgerEntry.total_delta), 0).label("total"),
            sa.func.coalesce(sa.func.sum(LedgerEntry.pending_delta), 0).label("pending"),
            sa.func.coalesce(sa.func.sum(LedgerEntry.available_delta), 0).label("available"),
            sa.func.count().label("entries"),
        )
        .group_by(LedgerEntry.coach_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(
            CoachProfile.user_id,
            CoachProfile.total_earnings,
            CoachProfile.pending_balance,
            CoachProfile.available_balance,
            CoachProfile.ledger_entry_count,
            sums.c.total,
            sums.c.pending,
            sums.c.available,
            sums.c.entries,
        )
        .outerjoin(sums, sums.c.coach_id == CoachProfile.user_id)
        .order_by(CoachProfile.user_id)
    ).all()
    drift = []
    for row in rows:
        coach_id, total, pending, available, count, e_total, e_pending, e_available, entries = row
        if count != (entries or 0):
            drift.append(Drift(coach_id, f"counts {count} ledger entries but has {entries or 0}"))
        for name, held, implied in (
            ("total_earnings", total, e_total),
            ("pending_balance", pending, e_pending),
            ("available_balance", available, e_available),
        ):
            implied = Decimal(implied or 0).quantize(Decimal("0.01"))
            if Decimal(held) != implied:
                drift.append(
                    Drift(coach_id, f"{name} is {held} but its entries add up to {implied}")
                )
    orphans = db.session.scalars(
        sa.select(LedgerEntry.coach_id)
        .distinct()
        .where(~sa.exists().where(CoachProfile.user_id == LedgerEntry.coach_id))
    ).all()
    drift.extend(Drift(c, "has ledger entries but no coach profile") for c in orphans)
    return drift


def _release_drift() -> list[Drift]:
    """Each release entry moved its payment's share from pending to available, no more.

    Entries of zero mark payments released before releases were recorded per payment (the
    migration that made the change), whose amounts moved in one entry per event then."""
    payment = aliased(LedgerEntry)
    rows = db.session.execute(
        sa.select(
            LedgerEntry.coach_id,
            LedgerEntry.transaction_id,
            LedgerEntry.total_delta,
            LedgerEntry.pending_delta,
            LedgerEntry.available_delta,
            payment.pending_delta,
        )
        .outerjoin(
            payment,
            sa.and_(
                payment.transaction_id == LedgerEntry.transaction_id,
                payment.kind == LedgerEntryKind.PAYMENT,
            ),
        )
        .where(
            LedgerEntry.kind == LedgerEntryKind.FUNDS_AVAILABLE,
            LedgerEntry.transaction_id.is_not(None),
        )
    ).all()
    drift = []
    for coach_id, txn_id, total, pending, available, share in rows:
        if share is None:
            drift.append(Drift(coach_id, f"transaction {txn_id} was released but never paid"))
        elif (total, pending, available) not in ((ZERO, -share, share), (ZERO, ZERO, ZERO)):
            drift.append(
                Drift(
                    coach_id,
                    f"transaction {txn_id}'s release moved pending {pending}, available "
                    f"{available}; its payment put {share} in pending",
                )
            )
    return drift


def _payment_drift() -> list[Drift]:
    entries = (
        sa.select(LedgerEntry.transaction_id, LedgerEntry.total_delta)
        .where(LedgerEntry.kind == LedgerEntryKind.PAYMENT)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(
            Transaction.id, Transaction.coach_id, Transaction.coach_share, entries.c.total_delta
        )
        .outerjoin(entries, entries.c.transaction_id == Transaction.id)
        .where(
            Transaction.type == TransactionType.SESSION_PAYMENT,
            Transaction.coach_id.is_not(None),
            Transaction.status.in_(PAID_TRANSACTION_STATUSES),
        )
    ).all()
    drift = []
    for txn_id, coach_id, payout, recorded in rows:
        if recorded is None:
            drift.append(Drift(coach_id, f"paid transaction {txn_id} has no payment entry"))
        elif recorded != payout:
            drift.append(
                Drift(
                    coach_id,
                    f"transaction {txn_id} paid {payout} to the coach, entry says {recorded}",
                )
            )
    unpaid = db.session.execute(
        sa.select(LedgerEntry.coach_id, Transaction.id, Transaction.status)
        .join(Transaction, Transaction.id == LedgerEntry.transaction_id)
        .where(
            LedgerEntry.kind == LedgerEntryKind.PAYMENT,
            Transaction.status.not_in(PAID_TRANSACTION_STATUSES),
        )
    ).all()
    drift.extend(
        Drift(c, f"transaction {t} is {s.value} but has a payment entry") for c, t, s in unpaid
    )
    return drift


def _refund_drift() -> list[Drift]:
    rows = db.session.execute(
        sa.select(Refund.id, Refund.coach_share_reversed, Transaction.coach_id)
        .join(Transaction, Transaction.id == Refund.transaction_id)
        .where(
            Refund.status == RefundStatus.SUCCEEDED,
            Refund.coach_share_reversed != 0,
            Transaction.coach_id.is_not(None),
            ~sa.exists().where(
                LedgerEntry.refund_id == Refund.id, LedgerEntry.kind == LedgerEntryKind.REFUND
            ),
        )
    ).all()
    drift = [
        Drift(c, f"succeeded refund {r} ({share}) has no refund entry") for r, share, c in rows
    ]
    entries = db.session.execute(
        sa.select(
            Refund.id,
            Refund.coach_share_reversed,
            LedgerEntry.coach_id,
            LedgerEntry.total_delta,
            LedgerEntry.pending_delta,
            LedgerEntry.available_delta,
        ).join(Refund, Refund.id == LedgerEntry.refund_id)
    ).all()
    for refund_id, share, coach_id, total, pending, available in entries:
        if (total, pending, available) != (-share, ZERO, -share):
            drift.append(
                Drift(
                    coach_id,
                    f"refund {refund_id} took {share} from the coach, but its entry moved "
                    f"total {total}, pending {pending}, available {available}",
                )
            )
    return drift


def _dispute_drift() -> list[Drift]:
    """Each lost dispute's recovery (Stripe's reversal, noted on the transaction's dispute flag)
    has exactly its entry, and each dispute entry took what the flag says from available."""
    entries = dict(
        db.session.execute(
            sa.select(LedgerEntry.transaction_id, LedgerEntry.available_delta).where(
                LedgerEntry.kind == LedgerEntryKind.DISPUTE
            )
        ).all()
    )
    drift = []
    disputed = db.session.execute(
        sa.select(Transaction.id, Transaction.coach_id, Transaction.meta).where(
            Transaction.meta["dispute"].as_string().is_not(None)
        )
    ).all()
    for txn_id, coach_id, meta in disputed:
        recovered = ((meta or {}).get("dispute") or {}).get("recovered")
        taken = entries.pop(txn_id, None)
        if recovered is None and taken is None:
            continue
        if taken is None or recovered is None or -taken != Decimal(recovered):
            drift.append(
                Drift(
                    coach_id,
                    f"transaction {txn_id}'s dispute recovered {recovered or 'nothing'}, but "
                    f"its dispute entry took {'nothing' if taken is None else -taken}",
                )
            )
    drift.extend(Drift(None, f"dispute entry of transaction {t} has no dispute") for t in entries)
    return drift


def _payout_drift() -> list[Drift]:
    def missing(kind: LedgerEntryKind) -> sa.ColumnElement[bool]:
        return ~sa.exists().where(LedgerEntry.payout_id == Payout.id, LedgerEntry.kind == kind)

    not_taken = db.session.execute(
        sa.select(Payout.id, Payout.user_id, Payout.status).where(missing(LedgerEntryKind.PAYOUT))
    ).all()
    not_returned = db.session.execute(
        sa.select(Payout.id, Payout.user_id, Payout.status).where(
            Payout.status.in_(RETURNED_PAYOUT_STATUSES), missing(LedgerEntryKind.PAYOUT_RETURNED)
        )
    ).all()
    returned_but_live = db.session.execute(
        sa.select(Payout.id, Payout.user_id, Payout.status).where(
            Payout.status.not_in(RETURNED_PAYOUT_STATUSES),
            ~missing(LedgerEntryKind.PAYOUT_RETURNED),
        )
    ).all()
    return [
        *_payout_fee_drift(),
        *(Drift(c, f"payout {p} ({s.value}) has no payout entry") for p, c, s in not_taken),
        *(Drift(c, f"payout {p} is {s.value} but was not returned") for p, c, s in not_returned),
        *(Drift(c, f"payout {p} is {s.value} but was returned") for p, c, s in returned_but_live),
    ]


def _payout_fee_drift() -> list[Drift]:
    """Each payout's fee entry takes exactly the fee the payout records from Stripe."""
    fees = dict(
        db.session.execute(
            sa.select(LedgerEntry.payout_id, -LedgerEntry.available_delta).where(
                LedgerEntry.kind == LedgerEntryKind.PAYOUT_FEE
            )
        ).all()
    )
    drift = []
    for payout_id, coach_id, meta in db.session.execute(
        sa.select(Payout.id, Payout.user_id, Payout.meta)
    ).all():
        recorded = Decimal(str((meta or {}).get("fee") or "0.00"))
        if fees.pop(payout_id, ZERO) != recorded:
            drift.append(Drift(coach_id, f"payout {payout_id}'s fee entry is not its fee"))
    drift.extend(Drift(None, f"fee entry of payout {p} has no payout") for p in fees)
    return drift


# --- `flask ledger ...` -------------------------------------------------------------------------

ledger_cli = AppGroup("ledger", help="Check the coaches' balances against their ledger.")


@ledger_cli.command("verify")
def verify_command() -> None:
    """Recompute every coach's balances from the rows; print any drift (exit 1 if there is)."""
    drift = verify()
    for problem in drift:
        click.echo(str(problem))
    if drift:
        click.echo(f"Ledger drift: {len(drift)} problem(s).")
        raise SystemExit(1)
    click.echo(f"Ledger verified: {coach_count()} coaches, no drift.")
