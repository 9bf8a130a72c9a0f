"""What needs an admin: disputes, failed payouts and payments, failed events, stuck refunds,
jobs failed after their last try and reconciliations that found something."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from portal import jobs
from portal.admin import reconciliation_runs
from portal.extensions import db
from portal.models import (
    Booking,
    EventStatus,
    JobRun,
    PaymentStatus,
    Payout,
    PayoutStatus,
    ReconciliationRun,
    Refund,
    RefundStatus,
    StripeEvent,
    Transaction,
    TransactionStatus,
    utcnow,
)

LIMIT = 100
# A refund still pending after this long was not answered by Stripe (an outage, a crash).
STUCK_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Attention:
    disputes: list[Transaction]
    failed_payouts: list[Payout]
    failed_transactions: list[Transaction]
    failed_bookings: list[Booking]
    failed_events: list[StripeEvent]
    stuck_refunds: list[Refund]
    failed_jobs: list[JobRun]
    reconciliations: list[ReconciliationRun]

    @property
    def total(self) -> int:
        return sum(
            len(group)
            for group in (
                self.disputes,
                self.failed_payouts,
                self.failed_transactions,
                self.failed_bookings,
                self.failed_events,
                self.stuck_refunds,
                self.failed_jobs,
                self.reconciliations,
            )
        )


def needs_attention() -> Attention:
    parties = (joinedload(Transaction.payer), joinedload(Transaction.coach))
    disputed = Transaction.meta["dispute"].as_string().is_not(None)
    return Attention(
        disputes=_all(
            sa.select(Transaction).options(*parties).where(disputed).order_by(Transaction.id.desc())
        ),
        failed_payouts=_all(
            sa.select(Payout)
            .options(joinedload(Payout.user))
            .where(Payout.status == PayoutStatus.FAILED)
            .order_by(Payout.id.desc())
        ),
        failed_transactions=_all(
            sa.select(Transaction)
            .options(*parties)
            .where(Transaction.status == TransactionStatus.FAILED)
            .order_by(Transaction.id.desc())
        ),
        failed_bookings=_all(
            sa.select(Booking)
            .options(joinedload(Booking.mentee), joinedload(Booking.coach))
            .where(Booking.payment_status == PaymentStatus.FAILED)
            .order_by(Booking.id.desc())
        ),
        failed_events=_all(
            sa.select(StripeEvent)
            .where(StripeEvent.status == EventStatus.FAILED)
            .order_by(StripeEvent.id.desc())
        ),
        stuck_refunds=_all(
            sa.select(Refund)
            .where(
                Refund.status == RefundStatus.PENDING,
                Refund.created_at < utcnow() - STUCK_AFTER,
            )
            .order_by(Refund.id.desc())
        ),
        failed_jobs=jobs.failed_runs(LIMIT),
        reconciliations=reconciliation_runs.runs_needing_attention(LIMIT),
    )


def _all(query: sa.Select) -> list:
    return list(db.session.scalars(query.limit(LIMIT)).unique())
