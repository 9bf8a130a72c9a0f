"""Migrations run forward and back on this run's database, and match the models."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from portal import ledger
from portal.extensions import db
from portal.models import (
    Base,
    CoachProfile,
    LedgerEntry,
    LedgerEntryKind,
    OutboxMessage,
    Role,
    User,
)
from portal.models.mail import FAILED, PENDING, SENDING, SKIPPED
from tests.builders import make_payment, make_user


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade_round_trip(app: Flask) -> None:
    assert set(Base.metadata.tables) <= _tables()
    downgrade(revision="base")
    db.engine.dispose()
    assert _tables() == set()
    upgrade()
    db.engine.dispose()
    assert set(Base.metadata.tables) <= _tables()


def test_models_and_head_migration_agree(app: Flask) -> None:
    migrate_config = app.extensions["migrate"].configure_args
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=dict(migrate_config))
        differences = compare_metadata(context, db.metadata)
    assert differences == []


@pytest.mark.parametrize("table", sorted(Base.metadata.tables))
def test_every_table_has_a_named_primary_key(app: Flask, table: str) -> None:
    pk = sa.inspect(db.engine).get_pk_constraint(table)
    assert pk["constrained_columns"] == ["id"]


def _columns(table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(db.engine).get_columns(table)}


def _indexes(table: str) -> set[str]:
    return {index["name"] for index in sa.inspect(db.engine).get_indexes(table)}


def test_the_booking_quote_migration_goes_down_and_up_keeping_the_held_slot_index(
    app: Flask,
) -> None:
    quote_columns = {"discount_amount", "discount_percentage"}
    assert quote_columns <= _columns("coaching_sessions")
    downgrade(revision="0010")
    db.engine.dispose()
    assert not quote_columns & _columns("coaching_sessions")
    assert "uq_coaching_sessions_slot_held" in _indexes("coaching_sessions")
    upgrade()
    db.engine.dispose()
    assert quote_columns <= _columns("coaching_sessions")
    assert "uq_coaching_sessions_slot_held" in _indexes("coaching_sessions")


def _predicates() -> dict[tuple[str, str], str]:
    """Each partial index of the database, by (table, name): its WHERE, in lower case."""
    inspector = sa.inspect(db.engine)
    found = {}
    for table in Base.metadata.tables:
        for index in inspector.get_indexes(table):
            options = index.get("dialect_options", {})
            where = options.get("postgresql_where") or options.get("sqlite_where")
            if where is not None:
                found[table, index["name"]] = str(where).strip("()").replace('"', "").lower()
    return found


def _declared_predicates() -> set[tuple[str, str]]:
    return {
        (table.name, index.name)
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options["postgresql"]["where"] is not None
    }


# Indexes of a column empty on a payment's rows: only rows with a value are in them.
OF_VALUES = {
    ("stripe_events", "ix_stripe_events_waiting_for"): "waiting_for",
    ("ledger_entries", "uq_ledger_entries_kind_refund"): "refund_id",
    ("ledger_entries", "uq_ledger_entries_kind_payout"): "payout_id",
    ("ledger_entries", "uq_ledger_entries_kind_event"): "stripe_event_id",
    ("outbox", "uq_outbox_dedupe_key"): "dedupe_key",
}
# Serving no query: never looked up.
UNUSED = {("coaching_sessions", "ix_coaching_sessions_stripe_payment_intent_id")}


def test_the_database_has_the_partial_indexes_the_models_declare(app: Flask) -> None:
    # compare_metadata does not compare an index's WHERE: a partial index declared in a model
    # and made whole by a migration (or the reverse) would pass the check above.
    predicates = _predicates()
    assert set(predicates) == _declared_predicates()
    for key, column in OF_VALUES.items():
        assert predicates[key] == f"{column} is not null"


def test_the_index_migration_goes_down_to_whole_indexes_and_back(app: Flask) -> None:
    def indexes() -> set[tuple[str, str]]:
        return {("coaching_sessions", name) for name in _indexes("coaching_sessions")}

    assert not UNUSED & indexes()
    downgrade(revision="0021")
    db.engine.dispose()
    assert not set(OF_VALUES) & set(_predicates())
    assert indexes() >= UNUSED
    assert "uq_outbox_dedupe_key" in {
        c["name"] for c in sa.inspect(db.engine).get_unique_constraints("outbox")
    }
    upgrade()
    db.engine.dispose()
    assert set(OF_VALUES) <= set(_predicates())
    assert not UNUSED & indexes()


def _released_the_old_way(coach: User, event_id: str, amount: str) -> None:
    """A `balance.available` as the ledger applied it before 0020: one entry for the event,
    moving what its snapshot said from pending to available."""
    moved = Decimal(amount)
    db.session.add(
        LedgerEntry(
            coach_id=coach.id,
            kind=LedgerEntryKind.FUNDS_AVAILABLE,
            currency="USD",
            pending_delta=-moved,
            available_delta=moved,
            stripe_event_id=event_id,
        )
    )
    db.session.execute(
        sa.update(CoachProfile)
        .where(CoachProfile.user_id == coach.id)
        .values(
            pending_balance=CoachProfile.pending_balance - moved,
            available_balance=CoachProfile.available_balance + moved,
            ledger_entry_count=CoachProfile.ledger_entry_count + 1,
        )
    )
    db.session.commit()


def _markers(coach: User) -> list[tuple[int, Decimal, Decimal]]:
    db.session.expire_all()
    entry = LedgerEntry
    return db.session.execute(
        sa.select(entry.transaction_id, entry.pending_delta, entry.available_delta)
        .where(entry.coach_id == coach.id, entry.transaction_id.is_not(None))
        .where(entry.kind == LedgerEntryKind.FUNDS_AVAILABLE)
        .order_by(entry.transaction_id)
    ).all()


def test_the_release_by_payment_migration_marks_the_payments_old_releases_moved(
    app: Flask,
) -> None:
    downgrade(revision="0019")
    db.engine.dispose()
    coach, mentee = make_user(Role.COACH), make_user(Role.MENTEE)
    first, second, third = (make_payment(coach, mentee, p) for p in ("100.00", "50.00", "25.00"))
    for payment in (first, second, third):
        ledger.record_payment(payment)  # shares 80.00, 40.00, 20.00
    db.session.commit()
    _released_the_old_way(coach, "evt_1", "80.00")
    _released_the_old_way(coach, "evt_2", "40.00")  # the third is still pending
    before = ledger.balances_of(coach.id)
    db.session.commit()  # a migration waits for the test's own reads to end on PostgreSQL

    upgrade()
    db.engine.dispose()
    zero = Decimal("0.00")
    assert _markers(coach) == [(first.id, zero, zero), (second.id, zero, zero)]
    assert [held.transaction_id for held in ledger.held_payments(coach.id)] == [third.id]
    assert ledger.balances_of(coach.id) == before  # markers move no money
    assert ledger.verify() == []  # and are counted on the profile
    db.session.commit()

    # Back down and up again: the marks stay and nothing is marked twice.
    downgrade(revision="0019")
    db.engine.dispose()
    upgrade()
    db.engine.dispose()
    assert _markers(coach) == [(first.id, zero, zero), (second.id, zero, zero)]
    [held] = ledger.held_payments(coach.id)
    ledger.record_release(coach.id, held)  # Stripe releases the third: it moves, once
    db.session.commit()
    assert ledger.balances_of(coach.id) == ledger.Balances(
        Decimal("140.00"), zero, Decimal("140.00")
    )
    assert ledger.verify() == []


def test_going_below_0021_gives_up_unrendered_messages_still_owed_and_says_how_many(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    reader = make_user(Role.MENTEE)
    rows = {
        status: OutboxMessage(kind="booking.confirmed", user_id=reader.id, status=status)
        for status in (PENDING, SENDING, SKIPPED)
    }
    db.session.add_all(rows.values())
    db.session.commit()
    ids = {status: row.id for status, row in rows.items()}
    db.session.commit()  # a migration waits for the test's own reads to end on PostgreSQL

    downgrade(revision="0020")
    db.engine.dispose()
    outbox = sa.table(
        "outbox",
        sa.column("id"),
        sa.column("status"),
        sa.column("last_error"),
        sa.column("text_body"),
    )
    found = {
        row.id: (row.status, row.last_error, row.text_body)
        for row in db.session.execute(sa.select(outbox))
    }
    db.session.commit()
    gave_up = (FAILED, "Not rendered before a downgrade", "")
    assert found == {
        ids[PENDING]: gave_up,
        ids[SENDING]: gave_up,
        ids[SKIPPED]: (SKIPPED, None, ""),
    }
    assert "Gave up 2 outbox message(s) not rendered before the downgrade" in caplog.text
    upgrade()
    db.engine.dispose()
