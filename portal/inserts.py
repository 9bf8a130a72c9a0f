"""`INSERT ... ON CONFLICT DO NOTHING`, for rows whose unique index says whether they exist.

Used where a row must be written once whoever writes it first (a Stripe event, a payment's
transaction, a ledger entry): one statement both checks and inserts, and a duplicate is not an
error, so no SAVEPOINT is needed to keep the caller's transaction usable. Add `.returning(...)`
to learn whether the row was inserted (nothing comes back when it already existed). PostgreSQL
and SQLite only, the two databases the portal runs on.

These inserts sit on hot paths, where building a statement costs more than running it: a
function decorated with `once_per_dialect` builds its statement, without values, once per
database dialect, and the caller executes it with the values as parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from portal.extensions import db
from portal.models import Transaction

Statement = TypeVar("Statement")
DialectInsert = Callable[..., postgresql.Insert | sqlite.Insert]
_INSERTS: dict[str, DialectInsert] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def once_per_dialect(build: Callable[[DialectInsert], Statement]) -> Callable[[], Statement]:
    """Decorate a function that builds a statement from the dialect's `insert` (the one with
    `on_conflict_do_nothing`); calling it returns that statement, built once per dialect."""
    built: dict[str, Statement] = {}

    def statement() -> Statement:
        name = _dialect_name()
        if name not in built:
            built[name] = build(_dialect_insert(name))
        return built[name]

    return statement


def _dialect_name() -> str:
    return db.session.get_bind().dialect.name


def _dialect_insert(name: str) -> DialectInsert:
    try:
        return _INSERTS[name]
    except KeyError:
        raise RuntimeError(f"The portal needs PostgreSQL or SQLite, not {name}.") from None


_TRANSACTIONS = Transaction.__table__


@once_per_dialect
def payment_once(insert: DialectInsert) -> sa.Insert:
    """A payment's transaction (a session's or a membership's), written once per PaymentIntent
    and type whoever records it first; its id comes back only when this insert wrote it. The
    values are keyed by column name (`coach_payout` holds `Transaction.coach_share`)."""
    return (
        insert(_TRANSACTIONS)
        .on_conflict_do_nothing(
            index_elements=[_TRANSACTIONS.c.stripe_payment_intent_id, _TRANSACTIONS.c.type]
        )
        .returning(_TRANSACTIONS.c.id)
    )
