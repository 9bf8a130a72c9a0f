"""The migrated database holds every field of the seed, with its type, nullability and indexes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db

# (table, column, type, nullable, unique) for every field of ../shared/seed, named by the mapping.
SEED_COLUMNS = [
    ("users", "stripe_customer_id", "string", True, True),
    ("users", "stripe_connect_account_id", "string", True, True),
    ("users", "default_payment_method_id", "string", True, False),
    ("coach_profiles", "payout_schedule", "string", False, False),
    ("coach_profiles", "platform_fee_percentage", "numeric(5,2)", False, False),
    ("coach_profiles", "minimum_payout", "numeric(10,2)", False, False),
    ("coach_profiles", "total_earnings", "numeric(10,2)", False, False),
    ("coach_profiles", "available_balance", "numeric(10,2)", False, False),
    ("coach_profiles", "pending_balance", "numeric(10,2)", False, False),
    ("coaching_sessions", "price_amount", "numeric(10,2)", False, False),
    ("coaching_sessions", "currency", "string", False, False),
    ("coaching_sessions", "platform_fee_amount", "numeric(10,2)", False, False),
    ("coaching_sessions", "coach_payout_amount", "numeric(10,2)", False, False),
    ("coaching_sessions", "payment_status", "string", False, False),
    ("coaching_sessions", "stripe_payment_intent_id", "string", True, False),
    ("stripe_connected_accounts", "id", "integer", False, True),
    ("stripe_connected_accounts", "user_id", "integer", False, True),
    ("stripe_connected_accounts", "stripe_account_id", "string", False, True),
    ("stripe_connected_accounts", "payouts_enabled", "boolean", False, False),
    ("stripe_connected_accounts", "details_submitted", "boolean", False, False),
    ("stripe_connected_accounts", "charges_enabled", "boolean", False, False),
    ("stripe_connected_accounts", "country", "string", False, False),
    ("stripe_connected_accounts", "default_currency", "string", False, False),
    ("stripe_connected_accounts", "requires_onboarding", "boolean", False, False),
    ("stripe_connected_accounts", "business_type", "string", True, False),
    ("stripe_connected_accounts", "business_profile", "json", True, False),
    ("stripe_connected_accounts", "verification_status", "string", True, False),
    ("stripe_connected_accounts", "requirements", "json", True, False),
    ("stripe_connected_accounts", "created_at", "timestamptz", False, False),
    ("stripe_connected_accounts", "updated_at", "timestamptz", False, False),
    ("payment_methods", "id", "integer", False, True),
    ("payment_methods", "user_id", "integer", False, False),
    ("payment_methods", "stripe_payment_method_id", "string", False, False),
    ("payment_methods", "type", "string", False, False),
    ("payment_methods", "brand", "string", False, False),
    ("payment_methods", "last4", "string", False, False),
    ("payment_methods", "expiry_month", "integer", True, False),
    ("payment_methods", "expiry_year", "integer", True, False),
    ("payment_methods", "is_default", "boolean", False, False),
    ("payment_methods", "created_at", "timestamptz", False, False),
    ("payment_methods", "updated_at", "timestamptz", False, False),
    ("subscriptions", "id", "integer", False, True),
    ("subscriptions", "user_id", "integer", False, True),
    ("subscriptions", "stripe_subscription_id", "string", False, True),
    ("subscriptions", "stripe_price_id", "string", False, False),
    ("subscriptions", "status", "string", False, False),
    ("subscriptions", "current_period_start", "timestamptz", False, False),
    ("subscriptions", "current_period_end", "timestamptz", False, False),
    ("subscriptions", "cancel_at_period_end", "boolean", False, False),
    ("subscriptions", "amount", "numeric(10,2)", False, False),
    ("subscriptions", "currency", "string", False, False),
    ("subscriptions", "interval", "string", False, False),
    ("subscriptions", "created_at", "timestamptz", False, False),
    ("subscriptions", "updated_at", "timestamptz", False, False),
    ("transactions", "id", "integer", False, True),
    ("transactions", "type", "string", False, False),
    ("transactions", "status", "string", False, False),
    ("transactions", "amount", "numeric(10,2)", False, False),
    ("transactions", "currency", "string", False, False),
    ("transactions", "stripe_payment_intent_id", "string", True, False),
    ("transactions", "stripe_transfer_id", "string", True, False),
    ("transactions", "platform_fee", "numeric(10,2)", False, False),
    ("transactions", "coach_payout", "numeric(10,2)", False, False),
    ("transactions", "session_id", "integer", True, False),
    ("transactions", "payer_id", "integer", False, False),
    ("transactions", "coach_id", "integer", True, False),
    ("transactions", "metadata", "json", True, False),
    ("transactions", "created_at", "timestamptz", False, False),
    ("transactions", "updated_at", "timestamptz", False, False),
    ("payouts", "id", "integer", False, True),
    ("payouts", "stripe_payout_id", "string", False, True),
    ("payouts", "amount", "numeric(10,2)", False, False),
    ("payouts", "currency", "string", False, False),
    ("payouts", "status", "string", False, False),
    ("payouts", "user_id", "integer", False, False),
    ("payouts", "connected_account_id", "integer", False, False),
    ("payouts", "arrival_date", "timestamptz", True, False),
    ("payouts", "metadata", "json", True, False),
    ("payouts", "created_at", "timestamptz", False, False),
    ("payouts", "updated_at", "timestamptz", False, False),
    ("invoices", "id", "integer", False, True),
    ("invoices", "stripe_invoice_id", "string", False, True),
    ("invoices", "amount", "numeric(10,2)", False, False),
    ("invoices", "currency", "string", False, False),
    ("invoices", "status", "string", False, False),
    ("invoices", "user_id", "integer", False, False),
    ("invoices", "subscription_id", "integer", True, False),
    ("invoices", "invoice_url", "string", True, False),
    ("invoices", "invoice_pdf", "string", True, False),
    ("invoices", "due_date", "timestamptz", True, False),
    ("invoices", "paid_at", "timestamptz", True, False),
    ("invoices", "created_at", "timestamptz", False, False),
    ("invoices", "updated_at", "timestamptz", False, False),
]

# The seed's @@index and @@unique lists, as (table, columns).
SEED_INDEXES = [
    ("stripe_connected_accounts", ("stripe_account_id",)),
    ("payment_methods", ("user_id",)),
    ("subscriptions", ("stripe_subscription_id",)),
    ("transactions", ("stripe_payment_intent_id",)),
    ("transactions", ("session_id",)),
    ("transactions", ("payer_id",)),
    ("transactions", ("coach_id",)),
    ("payouts", ("stripe_payout_id",)),
    ("payouts", ("user_id",)),
    ("invoices", ("stripe_invoice_id",)),
    ("invoices", ("user_id",)),
    ("invoices", ("subscription_id",)),
]
SEED_COMPOUND_UNIQUES = [("payment_methods", ("user_id", "stripe_payment_method_id"))]

# onDelete: Cascade in the seed, as (table, column).
SEED_CASCADES = [
    ("stripe_connected_accounts", "user_id"),
    ("payment_methods", "user_id"),
    ("subscriptions", "user_id"),
]


def _type_matches(column_type: sa.types.TypeEngine, expected: str, dialect: str) -> bool:
    if expected == "string":
        return isinstance(column_type, sa.String)
    if expected == "integer":
        return isinstance(column_type, sa.Integer)
    if expected == "boolean":
        return isinstance(column_type, sa.Boolean) or (
            dialect == "sqlite" and isinstance(column_type, sa.Integer)
        )
    if expected == "json":
        return isinstance(column_type, sa.JSON) or type(column_type).__name__ == "JSONB"
    if expected == "timestamptz":
        if not isinstance(column_type, sa.DateTime):
            return False
        return dialect == "sqlite" or column_type.timezone
    if expected.startswith("numeric"):
        precision, scale = (int(x) for x in expected[8:-1].split(","))
        return (
            isinstance(column_type, sa.Numeric)
            and column_type.precision == precision
            and column_type.scale == scale
        )
    raise AssertionError(expected)


def _unique_column_sets(inspector: sa.Inspector, table: str) -> set[tuple[str, ...]]:
    sets = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)}
    sets |= {tuple(i["column_names"]) for i in inspector.get_indexes(table) if i["unique"]}
    sets.add(tuple(inspector.get_pk_constraint(table)["constrained_columns"]))
    return sets


@pytest.mark.parametrize(("table", "column", "kind", "nullable", "unique"), SEED_COLUMNS)
def test_seed_field_exists_with_its_type_nullability_and_uniqueness(
    app: Flask, table: str, column: str, kind: str, nullable: bool, unique: bool
) -> None:
    inspector = sa.inspect(db.engine)
    columns = {c["name"]: c for c in inspector.get_columns(table)}
    assert column in columns, f"{table}.{column} is missing"
    assert _type_matches(columns[column]["type"], kind, db.engine.dialect.name), (
        f"{table}.{column} is {columns[column]['type']!r}, expected {kind}"
    )
    assert columns[column]["nullable"] is nullable
    assert ((column,) in _unique_column_sets(inspector, table)) is unique


@pytest.mark.parametrize(("table", "columns"), SEED_INDEXES)
def test_seed_index_exists(app: Flask, table: str, columns: tuple[str, ...]) -> None:
    inspector = sa.inspect(db.engine)
    indexed = {tuple(i["column_names"]) for i in inspector.get_indexes(table)}
    indexed |= _unique_column_sets(inspector, table)
    assert columns in indexed


@pytest.mark.parametrize(("table", "columns"), SEED_COMPOUND_UNIQUES)
def test_seed_compound_unique_exists(app: Flask, table: str, columns: tuple[str, ...]) -> None:
    assert columns in _unique_column_sets(sa.inspect(db.engine), table)


@pytest.mark.parametrize(("table", "column"), SEED_CASCADES)
def test_seed_cascade_delete_holds(app: Flask, table: str, column: str) -> None:
    keys = sa.inspect(db.engine).get_foreign_keys(table)
    (key,) = [k for k in keys if k["constrained_columns"] == [column]]
    assert key["referred_table"] == "users"
    assert (key.get("options") or {}).get("ondelete", "").upper() == "CASCADE"


@pytest.mark.parametrize(
    ("table", "column", "default"),
    [
        ("coach_profiles", "payout_schedule", "instant"),
        ("coach_profiles", "platform_fee_percentage", "20.00"),
        ("coach_profiles", "minimum_payout", "100.00"),
        ("coach_profiles", "total_earnings", "0.00"),
        ("coaching_sessions", "currency", "USD"),
        ("coaching_sessions", "payment_status", "pending"),
        ("payouts", "status", "pending"),
    ],
)
def test_seed_defaults_are_in_the_database(
    app: Flask, table: str, column: str, default: str
) -> None:
    columns = {c["name"]: c for c in sa.inspect(db.engine).get_columns(table)}
    assert default in str(columns[column]["default"])
