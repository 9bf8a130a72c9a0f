"""Finding transactions: filters, search by any Stripe id or email, keyset pages, totals, CSV.

What it promises:

- `TransactionFilter` is everything in the list's URL; `conditions()` turns it into SQL
  predicates (a search by id or email becomes a subquery, never an extra round trip).
- `list_page` reads one keyset page of the columns the list shows, both parties' names and
  emails included, in one query. It never sums the whole filtered set: paging through a
  million rows must not add them all up on every click. Only when the whole set fits on
  this one page are its totals worked out, from the rows already read and their refunds in
  one more query; otherwise the page loads them separately.
- `totals` sums the whole filtered set, per currency (adding yen to dollars would mean
  nothing), for that separate request. So a page costs the same few queries whatever the page
  number or row count.
- `export_rows` yields the filtered set as CSV lines, `EXPORT_BATCH` rows per keyset query,
  so memory stays flat for a million rows; amounts are exact decimals and text cells cannot
  start a spreadsheet formula.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from portal import pagination as keyset
from portal.extensions import db
from portal.models import (
    Booking,
    Payout,
    Refund,
    RefundStatus,
    StripeEvent,
    Transaction,
    TransactionStatus,
    TransactionType,
    User,
)
from portal.parsing import parse_int
from portal.time_zones import DEFAULT_TIME_ZONE, show_time

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
_STRIPE_ID = re.compile(r"^[a-z]{1,8}_[A-Za-z0-9_]+$")
EXPORT_BATCH = 1000
SORTS = ("date", "amount")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class TransactionFilter:
    """What the admin asked for; every field is optional. `coach`/`mentee`: an id or email."""

    type: TransactionType | None = None
    status: TransactionStatus | None = None
    coach: str = ""
    mentee: str = ""
    currency: str = ""
    date_from: date | None = None
    date_to: date | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    q: str = ""
    sort: str = "date"
    descending: bool = True


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    count: int
    volume: Decimal
    platform_fees: Decimal
    coach_shares: Decimal
    refunds: Decimal
    refunded_fees: Decimal


@dataclass
class Listing:
    """One page; `totals` is None when the set runs past this page (they load on their own)."""

    page: keyset.Page
    totals: list[CurrencyTotals] | None = None

    @property
    def count(self) -> int:
        return count_of(self.totals or [])


def count_of(totals: list[CurrencyTotals]) -> int:
    return sum(t.count for t in totals)


# --- predicates -------------------------------------------------------------------------------


def conditions(f: TransactionFilter) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if f.type is not None:
        where.append(Transaction.type == f.type)
    if f.status is not None:
        where.append(Transaction.status == f.status)
    if f.currency:
        where.append(Transaction.currency == f.currency.upper())
    if f.coach:
        where.append(Transaction.coach_id.in_(_user_ids(f.coach)))
    if f.mentee:
        where.append(Transaction.payer_id.in_(_user_ids(f.mentee)))
    if f.date_from:
        where.append(Transaction.created_at >= _day_start(f.date_from))
    if f.date_to and f.date_to < date.max:  # through the calendar's last day: no end
        where.append(Transaction.created_at < _day_start(f.date_to + timedelta(days=1)))
    if f.amount_min is not None:
        where.append(Transaction.amount >= f.amount_min)
    if f.amount_max is not None:
        where.append(Transaction.amount <= f.amount_max)
    if f.q.strip():
        where.append(search_condition(f.q.strip()))
    return where


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _user_ids(who: str) -> sa.Select:
    who = who.strip()
    if who.isdigit():
        return sa.select(sa.literal(parse_int(who, what="a user id")))
    return sa.select(User.id).where(User.email == who.lower())


def search_condition(text: str) -> sa.ColumnElement[bool]:
    """The transactions a Stripe id or an email points at.

    Anything not shaped like a Stripe id (`xx_...`) or a number is part of an email.
    pi_ and tr_ are on the transaction; cs_ on its session; re_ on its refunds; po_ is a
    payout, which points at its coach's transactions; evt_ through the event's recorded
    objects; any other object id (ch_, du_, py_...) through the events that named it.
    """
    if not _STRIPE_ID.match(text) and not text.isdigit():  # isdigit: `²` is refused below
        pattern = f"%{escape_like(text.lower())}%"
        people = sa.select(User.id).where(User.email.like(pattern, escape="\\"))
        return sa.or_(Transaction.payer_id.in_(people), Transaction.coach_id.in_(people))
    if text.startswith("pi_"):
        return Transaction.stripe_payment_intent_id == text
    if text.startswith("tr_"):
        return Transaction.stripe_transfer_id == text
    if text.startswith("cs_"):
        return Transaction.session_id.in_(
            sa.select(Booking.id).where(Booking.stripe_checkout_session_id == text)
        )
    if text.startswith("re_") or text.startswith("pyr_"):
        return Transaction.id.in_(
            sa.select(Refund.transaction_id).where(Refund.stripe_refund_id == text)
        )
    if text.startswith("po_"):
        return Transaction.coach_id.in_(
            sa.select(Payout.user_id).where(Payout.stripe_payout_id == text)
        )
    if text.startswith("evt_"):
        event = sa.select(StripeEvent).where(StripeEvent.stripe_event_id == text).subquery()
        return sa.or_(
            Transaction.stripe_payment_intent_id.in_(sa.select(event.c.payment_intent_id)),
            Transaction.session_id.in_(
                sa.select(Booking.id).where(
                    Booking.stripe_checkout_session_id.in_(sa.select(event.c.object_id))
                )
            ),
            Transaction.id.in_(
                sa.select(Refund.transaction_id).where(
                    Refund.stripe_refund_id.in_(sa.select(event.c.object_id))
                )
            ),
        )
    if text.isdigit():
        return Transaction.id == parse_int(text, what="a transaction number")
    return Transaction.stripe_payment_intent_id.in_(
        sa.select(StripeEvent.payment_intent_id).where(StripeEvent.object_id == text)
    )


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- the page and its totals ------------------------------------------------------------------


def _sort_key(f: TransactionFilter) -> tuple[sa.ColumnElement, str]:
    if f.sort == "amount":
        return Transaction.amount, "number"
    return Transaction.created_at, "datetime"


def list_page(
    f: TransactionFilter,
    *,
    after: str | None = None,
    before: str | None = None,
    size: int | None = None,
) -> Listing:
    """One page of the filtered transactions, with the set's totals only when it is all here.

    Its rows are the columns the list shows, with each party's name and email (`payer_name`,
    `coach_email`...; a coach's are None for a payment without one), not ORM objects: a page
    is fifty of them, and building a `Transaction` and two `User`s for each cost more than the
    query. Raises `keyset.BadCursor` for a page link that does not parse.
    """
    key, kind = _sort_key(f)
    page = keyset.fetch_page(
        _listed(f),
        key=key,
        row_id=Transaction.id,
        kind=kind,
        descending=f.descending,
        after=after,
        before=before,
        size=size or PAGE_SIZE,
    )
    whole_set = page.next_cursor is None and page.prev_cursor is None
    return Listing(page=page, totals=_totals_of_rows(page.rows) if whole_set else None)


# What the list shows of each transaction and its parties, built once: of the metadata, which may
# hold much more, only whether it records a dispute (as the disputes list and the attention page
# tell). `transaction_rows` unpacks each row in this order.
_PAYER, _COACH = aliased(User, name="payer"), aliased(User, name="coach")
_LISTED = (
    sa.select(
        Transaction.id,
        Transaction.created_at,
        Transaction.type,
        Transaction.status,
        Transaction.currency,
        Transaction.amount,
        Transaction.platform_fee,
        Transaction.coach_share.label("coach_share"),
        Transaction.meta["dispute"].as_string().is_not(None).label("disputed"),
        _PAYER.name.label("payer_name"),
        _PAYER.email.label("payer_email"),
        _COACH.name.label("coach_name"),
        _COACH.email.label("coach_email"),
    )
    .outerjoin(_PAYER, _PAYER.id == Transaction.payer_id)
    .outerjoin(_COACH, _COACH.id == Transaction.coach_id)
)


@lru_cache(maxsize=256)
def _listed(f: TransactionFilter) -> sa.Select:
    """The list's statement for `f`, kept per filter: building and keying it took a third of
    reading a page, and the filters admins use are few. Its values are bound parameters in
    the SQL, so every filter of the same shape shares one prepared statement."""
    return _LISTED.where(*conditions(f))


def _totals_of_rows(rows: list[sa.Row]) -> list[CurrencyTotals]:
    """The same sums `totals` makes in SQL, over rows already read and their refunds."""
    refunded: dict[int, list[Refund]] = {}
    if rows:
        for refund in db.session.scalars(
            sa.select(Refund).where(
                Refund.transaction_id.in_([t.id for t in rows]),
                Refund.status == RefundStatus.SUCCEEDED,
            )
        ):
            refunded.setdefault(refund.transaction_id, []).append(refund)
    sums: dict[str, list[Decimal]] = {}
    counts: dict[str, int] = {}
    for t in rows:
        values = (
            t.amount,
            t.platform_fee,
            t.coach_share,
            sum((r.amount for r in refunded.get(t.id, [])), ZERO),
            sum((r.platform_fee_refunded for r in refunded.get(t.id, [])), ZERO),
        )
        running = sums.setdefault(t.currency, [ZERO] * len(values))
        for i, value in enumerate(values):
            running[i] += Decimal(value or 0)
        counts[t.currency] = counts.get(t.currency, 0) + 1
    return [
        CurrencyTotals(currency, counts[currency], *(_cents(v) for v in sums[currency]))
        for currency in sorted(sums)
    ]


def _refund_sums() -> sa.Subquery:
    return (
        sa.select(
            Refund.transaction_id.label("transaction_id"),
            sa.func.sum(Refund.amount).label("refunded"),
            sa.func.sum(Refund.platform_fee_refunded).label("refunded_fee"),
        )
        .where(Refund.status == RefundStatus.SUCCEEDED)
        .group_by(Refund.transaction_id)
        .subquery()
    )


_MONEY = sa.Numeric(12, 2, asdecimal=True)


def _sum(column: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.coalesce(sa.func.sum(column), 0, type_=_MONEY)


def totals(f: TransactionFilter) -> list[CurrencyTotals]:
    """Volume, platform fees, coach payouts and succeeded refunds of the filtered set.

    Two aggregates instead of one join: the transactions are summed alone (a plain scan, no
    join against every refund), and the succeeded refunds are summed from the refunds side,
    joined only to the filtered transactions they belong to (far fewer rows than payments).
    """
    where = conditions(f)
    payments = db.session.execute(
        sa.select(
            Transaction.currency,
            sa.func.count(),
            _sum(Transaction.amount),
            _sum(Transaction.platform_fee),
            _sum(Transaction.coach_share),
        )
        .where(*where)
        .group_by(Transaction.currency)
        .order_by(Transaction.currency)
    ).all()
    refunded = {
        currency: (amount, fee)
        for currency, amount, fee in db.session.execute(
            sa.select(
                Transaction.currency,
                _sum(Refund.amount),
                _sum(Refund.platform_fee_refunded),
            )
            .join(Transaction, Transaction.id == Refund.transaction_id)
            .where(Refund.status == RefundStatus.SUCCEEDED, *where)
            .group_by(Transaction.currency)
        ).all()
    }
    return [
        CurrencyTotals(
            currency,
            count,
            *(_cents(v) for v in (volume, fees, payouts, *refunded.get(currency, (0, 0)))),
        )
        for currency, count, volume, fees, payouts in payments
    ]


def _cents(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


# --- CSV --------------------------------------------------------------------------------------

# The last line of an export that broke off: no complete file ends with it.
EXPORT_FAILED = "EXPORT FAILED: this file is incomplete. Export again."
CSV_HEADER = [
    "id",
    "created_at",
    "type",
    "status",
    "currency",
    "amount",
    "platform_fee",
    "coach_share",
    "refunded",
    "payer_email",
    "payer_name",
    "coach_email",
    "coach_name",
    "stripe_payment_intent_id",
    "stripe_transfer_id",
    "session_id",
]
LOCAL_CSV_FORMAT = "%Y-%m-%d %H:%M:%S %Z"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ gets a quote in front."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _money_cell(value: object) -> str:
    return str(_cents(value))


def export_rows(
    f: TransactionFilter,
    *,
    time_zone: str = DEFAULT_TIME_ZONE,
    batch: int | None = None,
    scope: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> Iterator[str]:
    """The filtered set as CSV text: the header, then one keyset batch of rows per chunk.

    `created_at` is ISO 8601 in UTC, for programs; the last column repeats it on the clock of
    `time_zone` (the reader's), for people, and its header names the zone.

    The filter is checked here, before anything is sent: a filter that cannot run raises
    `BadRequestInput` now rather than cutting the file short after its header. Each batch runs
    inside `scope()` (the view passes `app.app_context`, so a stream sent after the view
    returned has a database session), and nothing is held between chunks. Should a batch fail
    once the file has begun, its last line says the export failed, and the error is raised
    again so the server breaks the response off: the file never looks complete.
    """
    conditions(f)  # raises on a filter that cannot run, before the first byte
    return _export_stream(f, batch or EXPORT_BATCH, scope, time_zone)


def _export_stream(
    f: TransactionFilter,
    size: int,
    scope: Callable[[], AbstractContextManager[Any]],
    time_zone: str,
) -> Iterator[str]:
    yield _csv_line([*CSV_HEADER, f"created_at_local ({time_zone})"])
    cursor: tuple[object, int] | None = None
    while True:
        try:
            with scope():
                text, count, cursor = _export_batch(f, cursor, size, time_zone)
        except Exception:
            logger.exception("The transactions export failed after it had begun")
            yield _csv_line([EXPORT_FAILED])
            raise
        if count:
            yield text
        if count < size or cursor is None:
            return


def _export_batch(
    f: TransactionFilter, cursor: tuple[object, int] | None, size: int, time_zone: str
) -> tuple[str, int, tuple[object, int] | None]:
    payer, coach = aliased(User), aliased(User)
    refunds = _refund_sums()
    key, _ = _sort_key(f)
    query = (
        sa.select(
            Transaction.id,
            Transaction.created_at,
            Transaction.type,
            Transaction.status,
            Transaction.currency,
            Transaction.amount,
            Transaction.platform_fee,
            Transaction.coach_share,
            refunds.c.refunded,
            payer.email,
            payer.name,
            coach.email,
            coach.name,
            Transaction.stripe_payment_intent_id,
            Transaction.stripe_transfer_id,
            Transaction.session_id,
            key.label("sort_key"),
        )
        .join(payer, payer.id == Transaction.payer_id)
        .outerjoin(coach, coach.id == Transaction.coach_id)
        .outerjoin(refunds, refunds.c.transaction_id == Transaction.id)
        .where(*conditions(f))
    )
    if cursor is not None:
        bound = sa.tuple_(key, Transaction.id)
        target = sa.tuple_(sa.literal(cursor[0], key.type), sa.literal(cursor[1]))
        query = query.where(bound < target if f.descending else bound > target)
    order = (key.desc(), Transaction.id.desc()) if f.descending else (key.asc(), Transaction.id)
    rows = db.session.execute(query.order_by(*order).limit(size)).all()
    if not rows:
        return "", 0, None
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(_csv_row(row, time_zone))
    return buffer.getvalue(), len(rows), (rows[-1].sort_key, rows[-1].id)


def _csv_row(row: sa.Row, time_zone: str) -> list[str]:
    return [
        str(row.id),
        row.created_at.astimezone(UTC).isoformat(),
        row.type.value,
        row.status.value,
        row.currency,
        _money_cell(row.amount),
        _money_cell(row.platform_fee),
        _money_cell(row.coach_share),
        _money_cell(row.refunded),
        *(safe_cell(v) for v in row[9:15]),
        "" if row.session_id is None else str(row.session_id),
        show_time(row.created_at, time_zone, LOCAL_CSV_FORMAT),
    ]


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()
