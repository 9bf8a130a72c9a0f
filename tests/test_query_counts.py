"""Each main page runs a few SQL statements, and the same number with 10 rows as with 10,000.

For every page the test builds the page's main rows (coaches, open times, sessions, ledger
entries, cards, invoices, transactions, events, users, audit entries) for 10, requests the page
as the person who reads it and counts the statements the request runs; then it grows the same
rows to 10,000 and counts again. A count above `BUDGET`, or one that grows with the rows, is an
N+1 (a relationship read per row) or an unbounded list.

The 10,000 rows go in by bulk `INSERT ... VALUES` (`session.execute(insert(Model), rows)`), not
one ORM object at a time, and the `app` fixture empties every table after each test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import (
    AuditLog,
    AvailabilitySlot,
    BillingInterval,
    Booking,
    CoachProfile,
    EventStatus,
    Invoice,
    InvoiceStatus,
    LedgerEntry,
    LedgerEntryKind,
    PaymentMethod,
    PaymentStatus,
    Payout,
    PayoutStatus,
    Refund,
    RefundStatus,
    Role,
    SessionStatus,
    StripeConnectedAccount,
    StripeEvent,
    Subscription,
    SubscriptionStatus,
    Transaction,
    TransactionStatus,
    TransactionType,
    User,
)
from tests.builders import make_connected_account, make_user
from tests.conftest import PASSWORD, login, statements_run

SMALL = 10
LARGE = 10_000
BUDGET = 10
PEOPLE = 20  # the other parties rows are spread over, so a per-row lookup would show

NOW = datetime.now(UTC).replace(microsecond=0)
_ids = itertools.count(1)


# --- bulk rows ----------------------------------------------------------------------------------


def bulk(model: type, rows: list[dict[str, Any]], *, ids: bool = False) -> list[int]:
    """Insert `rows` in one executemany (not committed); with `ids`, return their ids in order."""
    if not rows:
        return []
    if not ids:
        db.session.execute(sa.insert(model), rows)
        return []
    statement = sa.insert(model).returning(model.id, sort_by_parameter_order=True)  # type: ignore[attr-defined]
    return list(db.session.scalars(statement, rows))


def people(role: Role, count: int, *, profiles: bool = False) -> list[int]:
    tag = next(_ids)
    ids = bulk(
        User,
        [
            {
                "email": f"{role.value}{tag}-{i}@example.com",
                "password_hash": "unused",
                "name": f"{role.value.title()} {tag}-{i}",
                "role": role,
                "session_token": f"token{tag}x{i}",
            }
            for i in range(count)
        ],
        ids=True,
    )
    if profiles:
        bulk(
            CoachProfile,
            [
                {"user_id": uid, "is_published": True, "headline": f"Coach {uid} helps you"}
                for uid in ids
            ],
        )
    return ids


def _split(i: int) -> dict[str, Decimal]:
    price = Decimal(100 + i % 50)
    fee = (price * Decimal("0.20")).quantize(Decimal("0.01"))
    return {"price": price, "fee": fee, "share": price - fee}


def session_rows(
    start: int, stop: int, *, coach: Callable[[int], int], mentee: Callable[[int], int]
) -> list[dict[str, Any]]:
    """Confirmed, paid sessions; even ones in the future, odd ones in the past."""
    rows = []
    for i in range(start, stop):
        money = _split(i)
        hours = i + 1 if i % 2 == 0 else -(i + 1)
        rows.append(
            {
                "coach_id": coach(i),
                "mentee_id": mentee(i),
                "starts_at": NOW + timedelta(hours=hours),
                "duration_minutes": 60,
                "status": SessionStatus.CONFIRMED,
                "payment_status": PaymentStatus.PAID,
                "price_amount": money["price"],
                "platform_fee_amount": money["fee"],
                "coach_share": money["share"],
            }
        )
    return rows


def payment_rows(
    start: int,
    stop: int,
    *,
    coach: Callable[[int], int],
    payer: Callable[[int], int],
    sessions: list[int] | None = None,
) -> list[dict[str, Any]]:
    tag = next(_ids)
    rows = []
    for n, i in enumerate(range(start, stop)):
        money = _split(i)
        rows.append(
            {
                "type": TransactionType.SESSION_PAYMENT,
                "status": TransactionStatus.COMPLETED,
                "amount": money["price"],
                "platform_fee": money["fee"],
                "coach_share": money["share"],
                "currency": "USD",
                "stripe_payment_intent_id": f"pi_q{tag}x{i}",
                "payer_id": payer(i),
                "coach_id": coach(i),
                "session_id": sessions[n] if sessions else None,
                "created_at": NOW - timedelta(minutes=i),
            }
        )
    return rows


def refund_rows(transactions: list[int]) -> list[dict[str, Any]]:
    """A succeeded refund of 10.00 on each of `transactions`."""
    tag = next(_ids)
    return [
        {
            "transaction_id": txn,
            "stripe_refund_id": f"re_q{tag}x{n}",
            "status": RefundStatus.SUCCEEDED,
            "amount": Decimal("10.00"),
            "platform_fee_refunded": Decimal("2.00"),
            "coach_share_reversed": Decimal("8.00"),
        }
        for n, txn in enumerate(transactions)
    ]


# --- the world a page is read in ------------------------------------------------------------------


@dataclass
class World:
    """The person reading the page and what their rows hang off; `grow` adds rows [start, stop)."""

    reader: User | None = None
    others: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    name: str
    setup: Callable[[World], None]
    grow: Callable[[World, int, int], None]
    url: Callable[[World], str]
    shows: str  # text the page shows only when it rendered its rows


def _mentee(world: World) -> None:
    world.reader = make_user(Role.MENTEE, password=PASSWORD)


def _coach(world: World) -> None:
    world.reader = make_user(Role.COACH, password=PASSWORD)
    make_connected_account(world.reader)


def _admin(world: World) -> None:
    world.reader = make_user(Role.ADMIN, password=PASSWORD)


# directory: coaches, each with open times (some held by a booking)
def _directory_setup(world: World) -> None:
    world.reader = None  # anyone may browse


def _directory_grow(world: World, start: int, stop: int) -> None:
    coaches = people(Role.COACH, stop - start, profiles=True)
    bulk(  # the directory lists coaches who can take bookings
        StripeConnectedAccount,
        [
            {"user_id": c, "stripe_account_id": f"acct_dir{c:08d}", "country": "US"}
            | {"charges_enabled": True, "payouts_enabled": True, "requires_onboarding": False}
            for c in coaches
        ],
    )
    bulk(
        AvailabilitySlot,
        [
            {"coach_id": c, "starts_at": NOW + timedelta(hours=h), "duration_minutes": 60}
            for c in coaches
            for h in (24, 48, 72)
        ],
    )


# a coach page: one coach's open times
def _coach_page_setup(world: World) -> None:
    _mentee(world)
    coach = make_user(Role.COACH, password=PASSWORD)
    make_connected_account(coach)
    world.extra["coach"] = coach.id


def _coach_page_grow(world: World, start: int, stop: int) -> None:
    coach = world.extra["coach"]
    bulk(
        AvailabilitySlot,
        [
            {"coach_id": coach, "starts_at": NOW + timedelta(hours=i + 2), "duration_minutes": 60}
            for i in range(start, stop)
        ],
    )


# the coach's own profile: their open times, with many bookings besides
def _own_slots_setup(world: World) -> None:
    _sessions_setup(Role.COACH)(world)


def _own_slots_grow(world: World, start: int, stop: int) -> None:
    assert world.reader is not None
    world.extra["coach"] = world.reader.id
    _coach_page_grow(world, start, stop)
    _sessions_grow(world, start, stop)


# my sessions and the coach's schedule: sessions with many other people
def _sessions_setup(role: Role) -> Callable[[World], None]:
    def setup(world: World) -> None:
        (_mentee if role is Role.MENTEE else _coach)(world)
        other = Role.COACH if role is Role.MENTEE else Role.MENTEE
        world.others = people(other, PEOPLE, profiles=other is Role.COACH)

    return setup


def _sessions_grow(world: World, start: int, stop: int) -> None:
    assert world.reader is not None
    me, others = world.reader.id, world.others
    if world.reader.role is Role.MENTEE:
        rows = session_rows(start, stop, coach=lambda i: others[i % PEOPLE], mentee=lambda i: me)
    else:
        rows = session_rows(start, stop, coach=lambda i: me, mentee=lambda i: others[i % PEOPLE])
    bulk(Booking, rows)


# the earnings dashboard and its activity: payments, their sessions, refunds, payouts
def _earnings_setup(world: World) -> None:
    _coach(world)
    world.others = people(Role.MENTEE, PEOPLE)


def _earnings_grow(world: World, start: int, stop: int) -> None:
    assert world.reader is not None
    coach, mentees = world.reader.id, world.others
    sessions = bulk(
        Booking,
        session_rows(start, stop, coach=lambda i: coach, mentee=lambda i: mentees[i % PEOPLE]),
        ids=True,
    )
    rows = payment_rows(
        start, stop, coach=lambda i: coach, payer=lambda i: mentees[i % PEOPLE], sessions=sessions
    )
    txns = bulk(Transaction, rows, ids=True)
    refunded = txns[::10]
    refunds = bulk(Refund, refund_rows(refunded), ids=True)
    entries = [
        {
            "coach_id": coach,
            "kind": LedgerEntryKind.PAYMENT,
            "currency": "USD",
            "total_delta": row["coach_share"],
            "pending_delta": row["coach_share"],
            "transaction_id": txn,
            "created_at": row["created_at"],
        }
        for txn, row in zip(txns, rows, strict=True)
    ]
    entries += [
        {
            "coach_id": coach,
            "kind": LedgerEntryKind.REFUND,
            "currency": "USD",
            "total_delta": Decimal("-8.00"),
            "pending_delta": Decimal("-8.00"),
            "transaction_id": txn,
            "refund_id": refund,
            "created_at": NOW - timedelta(seconds=30),
        }
        for txn, refund in zip(refunded, refunds, strict=True)
    ]
    bulk(LedgerEntry, entries)
    # Counted on the profile as the ledger counts each entry it writes.
    db.session.execute(
        sa.update(CoachProfile)
        .where(CoachProfile.user_id == coach)
        .values(ledger_entry_count=CoachProfile.ledger_entry_count + len(entries))
    )
    account = world.reader.stripe_connected_account
    assert account is not None
    tag = next(_ids)
    bulk(
        Payout,
        [
            {
                "stripe_payout_id": f"po_q{tag}x{i}",
                "amount": Decimal("50.00"),
                "status": PayoutStatus.PAID,
                "user_id": coach,
                "connected_account_id": account.id,
                "arrival_date": NOW,
            }
            for i in range(start, stop, 20)
        ],
    )
    # A new version of the payouts, as the payouts service makes with each one it records.
    db.session.execute(
        sa.update(StripeConnectedAccount)
        .where(StripeConnectedAccount.id == account.id)
        .values(payout_changes=StripeConnectedAccount.payout_changes + 1)
    )


# cards, invoices and the membership page
def _cards_grow(world: World, start: int, stop: int) -> None:
    assert world.reader is not None
    bulk(
        PaymentMethod,
        [
            {
                "user_id": world.reader.id,
                "stripe_payment_method_id": f"pm_q{i}",
                "type": "card",
                "brand": "visa",
                "last4": f"{i % 10_000:04d}",
                "expiry_month": 12,
                "expiry_year": 2040,
                "is_default": i == 0,
            }
            for i in range(start, stop)
        ],
    )


def _membership_setup(world: World) -> None:
    _mentee(world)
    assert world.reader is not None
    subscription = Subscription(
        user_id=world.reader.id,
        stripe_subscription_id="sub_query_counts",
        stripe_price_id="price_month",
        status=SubscriptionStatus.ACTIVE,
        current_period_start=NOW - timedelta(days=3),
        current_period_end=NOW + timedelta(days=27),
        amount=Decimal("20.00"),
        interval=BillingInterval.MONTH,
    )
    db.session.add(subscription)
    db.session.commit()
    world.extra["subscription"] = subscription.id


def _invoices_grow(world: World, start: int, stop: int) -> None:
    assert world.reader is not None
    bulk(
        Invoice,
        [
            {
                "stripe_invoice_id": f"in_q{i}",
                "amount": Decimal("20.00"),
                "status": InvoiceStatus.PAID,
                "user_id": world.reader.id,
                "subscription_id": world.extra.get("subscription"),
                "invoice_pdf": f"https://invoice.example/in_q{i}.pdf",
                "created_at": NOW - timedelta(days=i),
            }
            for i in range(start, stop)
        ],
    )


# the admin's pages
def _admin_people_setup(world: World) -> None:
    _admin(world)
    world.others = people(Role.COACH, PEOPLE, profiles=True)
    world.extra["mentees"] = people(Role.MENTEE, PEOPLE)


def _transactions_grow(world: World, start: int, stop: int) -> None:
    coaches, mentees = world.others, world.extra["mentees"]
    txns = bulk(
        Transaction,
        payment_rows(
            start,
            stop,
            coach=lambda i: coaches[i % PEOPLE],
            payer=lambda i: mentees[(i * 7) % PEOPLE],
        ),
        ids=True,
    )
    refunded = txns[::10]
    bulk(Refund, refund_rows(refunded))
    _events_grow(world, start, stop)


def _detail_setup(world: World) -> None:
    _admin_people_setup(world)
    coach, mentee = world.others[0], world.extra["mentees"][0]
    [txn] = bulk(
        Transaction,
        payment_rows(0, 1, coach=lambda i: coach, payer=lambda i: mentee),
        ids=True,
    )
    bulk(Refund, refund_rows([txn, txn]))
    db.session.commit()
    world.extra["transaction"] = txn


def _events_grow(world: World, start: int, stop: int) -> None:
    tag = next(_ids)
    bulk(
        StripeEvent,
        [
            {
                "stripe_event_id": f"evt_q{tag}x{i}",
                "type": "payment_intent.succeeded" if i % 2 else "charge.refunded",
                "payload": {"id": f"evt_q{tag}x{i}", "data": {"object": {"id": f"pi_e{i}"}}},
                "status": EventStatus.PROCESSED if i % 3 else EventStatus.FAILED,
                "received_at": NOW - timedelta(seconds=i),
                "object_id": f"pi_e{tag}x{i}",
                "payment_intent_id": f"pi_e{tag}x{i}",
            }
            for i in range(start, stop)
        ],
    )


def _users_grow(world: World, start: int, stop: int) -> None:
    half = (stop - start) // 2
    people(Role.COACH, half, profiles=True)
    people(Role.MENTEE, stop - start - half)


def _audit_grow(world: World, start: int, stop: int) -> None:
    actors = world.others
    bulk(
        AuditLog,
        [
            {
                "actor_id": actors[i % PEOPLE] if i % 3 else None,
                "action": "user.deactivated" if i % 2 else "user.reactivated",
                "target_type": "user",
                "target_id": str(i),
                "before": {"is_active": bool(i % 2)},
                "after": {"is_active": not i % 2},
                "created_at": NOW - timedelta(seconds=i),
            }
            for i in range(start, stop)
        ],
    )


def _reader_id(world: World) -> int:
    assert world.reader is not None
    return world.reader.id


PAGES = [
    Page("coaches directory", _directory_setup, _directory_grow, lambda w: "/", "Next open times"),
    Page(
        "coaches directory, searched by name and price",
        _directory_setup,
        _directory_grow,
        lambda w: "/?q=coach&min_price=50&max_price=500",
        "Next open times",
    ),
    Page(
        "coach page",
        _coach_page_setup,
        _coach_page_grow,
        lambda w: f"/coaches/{w.extra['coach']}",
        "Book and pay",
    ),
    Page(
        "coach profile and open times",
        _own_slots_setup,
        _own_slots_grow,
        lambda w: "/coach/profile",
        "Remove",
    ),
    Page(
        "my sessions",
        _sessions_setup(Role.MENTEE),
        _sessions_grow,
        lambda w: "/my/sessions",
        "Receipt",
    ),
    Page(
        "coach schedule",
        _sessions_setup(Role.COACH),
        _sessions_grow,
        lambda w: "/coach/schedule",
        "Receipt",
    ),
    Page(
        "coach earnings dashboard",
        _earnings_setup,
        _earnings_grow,
        lambda w: "/coach/earnings",
        "session on",
    ),
    Page(
        "coach earnings activity",
        _earnings_setup,
        _earnings_grow,
        lambda w: "/coach/earnings/activity",
        "session on",
    ),
    Page("cards", _mentee, _cards_grow, lambda w: "/billing/cards", "Make default"),
    Page("invoices", _mentee, _invoices_grow, lambda w: "/billing/invoices", "PDF"),
    Page(
        "membership",
        _membership_setup,
        _invoices_grow,
        lambda w: "/billing/membership",
        "See your invoices",
    ),
    Page(
        "admin transactions",
        _admin_people_setup,
        _transactions_grow,
        lambda w: "/admin/transactions",
        'id="txn-',
    ),
    Page(
        "admin transaction detail",
        _detail_setup,
        _transactions_grow,
        lambda w: f"/admin/transactions/{w.extra['transaction']}",
        "re_q",
    ),
    Page("admin events", _admin, _events_grow, lambda w: "/admin/events", "evt_q"),
    Page("admin users", _admin, _users_grow, lambda w: "/admin/users", "Deactivate"),
    Page(
        "admin audit log",
        _admin_people_setup,
        _audit_grow,
        lambda w: "/admin/audit",
        "user.deactivated",
    ),
]


# --- counting -------------------------------------------------------------------------------------


def count_request(client: FlaskClient, url: str, shows: str) -> tuple[list[str], int]:
    """The statements the request ran, and the size of the page it answered."""
    with statements_run() as seen:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert shows in response.text, f"{url} did not show its rows ({shows!r})"
    return list(seen), len(response.text)


def _listing(seen: list[str]) -> str:
    return "\n".join(f"  {n}. {' '.join(s.split())[:160]}" for n, s in enumerate(seen, 1))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_runs_few_queries_and_no_more_with_10000_rows(app: Flask, page: Page) -> None:
    world = World()
    page.setup(world)
    db.session.commit()
    client = app.test_client()
    if world.reader is not None:
        login(client, world.reader)
    url = page.url(world)

    page.grow(world, 0, SMALL)
    db.session.commit()
    small, small_size = count_request(client, url, page.shows)

    page.grow(world, SMALL, LARGE)
    db.session.commit()
    large, large_size = count_request(client, url, page.shows)

    assert len(small) <= BUDGET, f"{page.name}: {len(small)} queries\n{_listing(small)}"
    # no more with many rows (a list whose set fits on one page may read its totals' refunds)
    assert len(large) <= len(small), (
        f"{page.name}: {len(small)} queries with {SMALL} rows, {len(large)} with {LARGE}\n"
        f"{_listing(large)}"
    )
    # A bounded page: 10,000 rows must not all be rendered (a page holds at most 50).
    assert large_size < 10 * small_size, f"{page.name}: {small_size} -> {large_size} bytes"
