"""A coach's yearly statement: what they earned, what the platform's fee was, what was taken
back, what was paid out and Stripe's fees for instant payouts, month by month, for their
bookkeeping (CSV and a printable page).

What it promises: every figure is a sum of the ledger's entries (which equal Stripe's balances)
and of the coach's transactions' fees, in the coach's currency, months in UTC; the months add up
to the year's totals to the cent.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa

from portal.extensions import db
from portal.ledger import PAID_TRANSACTION_STATUSES
from portal.models import LedgerEntry, LedgerEntryKind, Refund, RefundStatus, Transaction

ZERO = Decimal("0.00")
COLUMNS = ("earned", "platform_fees", "taken_back", "paid_out", "payout_fees")


@dataclass
class Month:
    month: int
    earned: Decimal = ZERO  # the coach's share of the month's payments
    platform_fees: Decimal = ZERO  # the platform's fees on them, less fees refunded
    taken_back: Decimal = ZERO  # refunds and lost-dispute recoveries
    paid_out: Decimal = ZERO  # payouts, less those that failed or were canceled
    payout_fees: Decimal = ZERO  # Stripe's fees for instant payouts, as Stripe charged them

    @property
    def label(self) -> str:
        return f"{datetime(2000, self.month, 1):%B}"


@dataclass
class Statement:
    year: int
    currency: str
    months: list[Month] = field(default_factory=list)

    def total(self, column: str) -> Decimal:
        return sum((getattr(m, column) for m in self.months), ZERO)


def statement_for(coach_id: int, year: int, currency: str) -> Statement:
    start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    months = {n: Month(n) for n in range(1, 13)}
    entries = db.session.execute(
        sa.select(
            LedgerEntry.kind,
            LedgerEntry.created_at,
            LedgerEntry.total_delta,
            LedgerEntry.available_delta,
        ).where(
            LedgerEntry.coach_id == coach_id,
            LedgerEntry.created_at >= start,
            LedgerEntry.created_at < end,
        )
    ).all()
    for kind, at, total, available in entries:
        month = months[at.month]
        if kind is LedgerEntryKind.PAYMENT:
            month.earned += total
        elif kind in (LedgerEntryKind.REFUND, LedgerEntryKind.DISPUTE):
            month.taken_back -= total
        elif kind in (LedgerEntryKind.PAYOUT, LedgerEntryKind.PAYOUT_RETURNED):
            month.paid_out -= available
        elif kind is LedgerEntryKind.PAYOUT_FEE:
            month.payout_fees -= available
    fees = db.session.execute(
        sa.select(Transaction.created_at, Transaction.platform_fee).where(
            Transaction.coach_id == coach_id,
            Transaction.status.in_(PAID_TRANSACTION_STATUSES),
            Transaction.created_at >= start,
            Transaction.created_at < end,
        )
    ).all()
    for at, fee in fees:
        months[at.month].platform_fees += fee
    refunded = db.session.execute(
        sa.select(Refund.created_at, Refund.platform_fee_refunded)
        .join(Transaction, Transaction.id == Refund.transaction_id)
        .where(
            Transaction.coach_id == coach_id,
            Refund.status == RefundStatus.SUCCEEDED,
            Refund.created_at >= start,
            Refund.created_at < end,
        )
    ).all()
    for at, fee in refunded:
        months[at.month].platform_fees -= fee or ZERO
    return Statement(year, currency, [months[n] for n in range(1, 13)])


def as_csv(statement: Statement) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["month", *COLUMNS, "currency"])
    for m in statement.months:
        writer.writerow(
            [
                f"{statement.year}-{m.month:02d}",
                *(getattr(m, c) for c in COLUMNS),
                statement.currency,
            ]
        )
    writer.writerow(["total", *(statement.total(c) for c in COLUMNS), statement.currency])
    return out.getvalue()
