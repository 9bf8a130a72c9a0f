"""What the coach's earnings dashboard reads. Every query is scoped to one coach.

- Balances come from the coach's profile, which only the ledger writes; the activity list and
  the chart come from the ledger's entries, so the page and the ledger agree to the cent.
- Recent activity is paged by keyset on (created_at, id), newest first: the cursor is the id of
  the last entry shown, looked up again within the coach's own entries (another coach's id is
  simply not found).
- `read_history` (the chart and the first page of activity) reads thousands of entries for a
  busy coach, yet its answer changes only when an entry is written (entries, and the payments,
  sessions and refunds they show, are never edited once written). The dashboard keeps it, as
  rendered, under the coach's `ledger_entry_count`, which the ledger moves with every entry.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    Booking,
    CoachProfile,
    LedgerEntry,
    LedgerEntryKind,
    Payout,
    PayoutSchedule,
    PayoutStatus,
    Refund,
    StripeConnectedAccount,
    Transaction,
)
from portal.payouts.services import next_payout_day
from portal.time_zones import zone_of

EARNING_KINDS = (LedgerEntryKind.PAYMENT, LedgerEntryKind.REFUND, LedgerEntryKind.DISPUTE)
PAGE_SIZE = 10
CHART_PERIODS = 12


@dataclass(frozen=True)
class NextPayout:
    """When the coach's next payout should happen and roughly how much it will be."""

    day: date | None
    amount: Decimal
    note: str


@dataclass(frozen=True)
class Summary:
    currency: str
    total: Decimal
    pending: Decimal
    available: Decimal
    schedule: PayoutSchedule
    minimum: Decimal
    payouts_enabled: bool
    next_payout: NextPayout | None


@dataclass(frozen=True)
class Activity:
    """One row of "Payments and refunds": a ledger entry and what it shows of its cause."""

    id: int
    created_at: datetime
    kind: LedgerEntryKind
    currency: str
    share: Decimal  # the entry's change to the coach's total earnings
    paid: Decimal | None  # what the mentee paid, for a payment
    paid_currency: str | None
    refunded: Decimal | None  # what went back to the mentee, for a refund
    refunded_currency: str | None
    session_starts_at: datetime | None

    @property
    def is_payment(self) -> bool:
        return self.kind is LedgerEntryKind.PAYMENT

    @property
    def is_refund(self) -> bool:
        return self.kind is LedgerEntryKind.REFUND


@dataclass(frozen=True)
class ActivityPage:
    entries: tuple[Activity, ...]
    next_cursor: int | None


@dataclass(frozen=True)
class PayoutRow:
    id: int
    created_at: datetime
    amount: Decimal
    currency: str
    status: PayoutStatus
    arrival_date: datetime | None
    failure_message: str | None
    fee: Decimal  # Stripe's fee for an instant payout, as its balance transaction says


@dataclass(frozen=True)
class PayoutPage:
    payouts: tuple[PayoutRow, ...]
    next_cursor: int | None


@dataclass(frozen=True)
class Bucket:
    start: date
    label: str
    amount: Decimal


@dataclass(frozen=True)
class History:
    """What the dashboard shows from the ledger's entries: the chart and the newest activity.

    Plain values only, never ORM objects: nothing here is tied to a database session.
    """

    buckets: tuple[Bucket, ...]
    activity: ActivityPage


def read_history(coach_id: int, period: str, today: date, zone: str | None) -> History:
    return History(
        tuple(earnings_by_period(coach_id, period, today, CHART_PERIODS, zone)),
        activity_page(coach_id),
    )


def summary(profile: CoachProfile, account: StripeConnectedAccount | None, today: date) -> Summary:
    enabled = bool(account and account.payouts_enabled)
    return Summary(
        currency=profile.currency,
        total=profile.total_earnings,
        pending=profile.pending_balance,
        available=profile.available_balance,
        schedule=profile.payout_schedule,
        minimum=profile.minimum_payout,
        payouts_enabled=enabled,
        next_payout=next_payout(profile, today) if enabled else None,
    )


def next_payout(profile: CoachProfile, today: date) -> NextPayout:
    available = profile.available_balance
    if profile.payout_schedule is PayoutSchedule.INSTANT:
        if available > 0:
            return NextPayout(None, available, "Whenever you choose: use “Pay out now”.")
        return NextPayout(None, available, "Nothing is available to pay out yet.")
    day = next_payout_day(profile.payout_schedule, today)
    if available > 0 and available >= profile.minimum_payout:
        return NextPayout(day, available, "Your available balance, paid on your next payout day.")
    return NextPayout(
        day,
        Decimal("0.00"),
        "Paid on the first payout day your available balance reaches your minimum payout.",
    )


def activity_page(coach_id: int, after: int | None = None, size: int = PAGE_SIZE) -> ActivityPage:
    """Payments, refunds and dispute reversals, newest first; `after` is the last id shown.

    Raises LookupError when `after` is not one of this coach's entries.
    """
    # What each row shows (the payment, its session, the refund) comes in the same query, as
    # plain values: the rows are kept beyond the request (see `read_history`).
    query = (
        sa.select(
            LedgerEntry.id,
            LedgerEntry.created_at,
            LedgerEntry.kind,
            LedgerEntry.currency,
            LedgerEntry.total_delta,
            Transaction.amount,
            Transaction.currency,
            Refund.amount,
            Refund.currency,
            Booking.starts_at,
        )
        .outerjoin(Transaction, Transaction.id == LedgerEntry.transaction_id)
        .outerjoin(Booking, Booking.id == Transaction.session_id)
        .outerjoin(Refund, Refund.id == LedgerEntry.refund_id)
    )
    mine = sa.and_(LedgerEntry.coach_id == coach_id, LedgerEntry.kind.in_(EARNING_KINDS))
    rows, next_cursor = _newest_first(
        query, LedgerEntry.created_at, LedgerEntry.id, mine=mine, after=after, size=size
    )
    return ActivityPage(tuple(Activity(*row) for row in rows), next_cursor)


def payouts_page(coach_id: int, after: int | None = None, size: int = PAGE_SIZE) -> PayoutPage:
    """The coach's payouts, newest first; `after` is the last id shown (keyset, like activity).

    Raises LookupError when `after` is not one of this coach's payouts.
    """
    query = sa.select(
        Payout.id,
        Payout.created_at,
        Payout.amount,
        Payout.currency,
        Payout.status,
        Payout.arrival_date,
        Payout.meta,
    )
    rows, next_cursor = _newest_first(
        query, Payout.created_at, Payout.id, mine=Payout.user_id == coach_id, after=after, size=size
    )
    payouts = tuple(
        PayoutRow(
            *row[:6],
            failure_message=(row[6] or {}).get("failure_message"),
            fee=Decimal((row[6] or {}).get("fee") or "0"),
        )
        for row in rows
    )
    return PayoutPage(payouts, next_cursor)


def _newest_first(
    query: sa.Select,
    created_at: sa.ColumnElement,
    row_id: sa.ColumnElement,
    *,
    mine: sa.ColumnElement[bool],
    after: int | None,
    size: int,
) -> tuple[list[sa.Row], int | None]:
    """`size` of the rows `mine` selects, newest first by (created_at, id), after the row whose
    id is `after` (looked up within `mine`, so another coach's id is not found: LookupError);
    with the id to continue after when there are more."""
    query = query.where(mine)
    if after is not None:
        cursor = db.session.execute(
            sa.select(created_at, row_id).where(row_id == after, mine)
        ).one_or_none()
        if cursor is None:
            raise LookupError(after)
        query = query.where(sa.tuple_(created_at, row_id) < sa.tuple_(*cursor))
    rows = db.session.execute(
        query.order_by(created_at.desc(), row_id.desc()).limit(size + 1)
    ).all()
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if more and rows else None)


def earnings_by_period(
    coach_id: int,
    period: str,
    today: date,
    count: int = CHART_PERIODS,
    zone: str | None = None,
) -> list[Bucket]:
    """Net earnings (payments less refunds) per week (from Monday) or month, oldest first, each
    from midnight on the coach's clocks (`zone`, UTC when None): `today` is their day.

    Only the shown periods are read: the range on (coach_id, created_at) bounds the scan to
    them, and the database sums each period.
    """
    starts = _period_starts(period, today, count)
    days = [*starts, _next_start(period, starts[-1])]
    edges = [_midnight(day, zone) for day in days]
    params: dict[str, object] = {f"edge_{i}": edge for i, edge in enumerate(edges)}
    sums = db.session.execute(_period_sums(count), {"coach_id": coach_id, **params}).one()
    return [
        Bucket(start, _label(period, start), Decimal(total).quantize(Decimal("0.01")))
        for start, total in zip(starts, sums, strict=True)
    ]


@functools.cache
def _period_sums(count: int) -> sa.Select:
    """One scan with a CASE per period (portable: SQLite and PG), built once per count.

    The statement takes its coach and edges as parameters, so a dashboard view does not build
    (and SQLAlchemy does not re-key) two dozen comparisons every time.
    """
    edges = [sa.bindparam(f"edge_{i}", type_=LedgerEntry.created_at.type) for i in range(count + 1)]
    return sa.select(
        *(
            sa.func.coalesce(
                sa.func.sum(
                    sa.case(
                        (
                            sa.and_(LedgerEntry.created_at >= low, LedgerEntry.created_at < high),
                            LedgerEntry.total_delta,
                        ),
                    )
                ),
                0,
            )
            for low, high in zip(edges, edges[1:], strict=False)
        )
    ).where(
        LedgerEntry.coach_id == sa.bindparam("coach_id"),
        LedgerEntry.kind.in_(EARNING_KINDS),
        LedgerEntry.created_at >= edges[0],
        LedgerEntry.created_at < edges[-1],
    )


def _midnight(day: date, zone: str | None) -> datetime:
    """The UTC moment `day` begins in `zone`."""
    return datetime.combine(day, datetime.min.time(), zone_of(zone)).astimezone(UTC)


def _next_start(period: str, start: date) -> date:
    if period == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=7)


def _period_start(period: str, day: date) -> date:
    if period == "month":
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())


def _period_starts(period: str, today: date, count: int) -> list[date]:
    starts = [_period_start(period, today)]
    while len(starts) < count:
        previous = starts[-1] - timedelta(days=1)
        starts.append(_period_start(period, previous))
    return list(reversed(starts))


def _label(period: str, start: date) -> str:
    return start.strftime("%b %Y") if period == "month" else start.strftime("%d %b")
