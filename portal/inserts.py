"""`INSERT ... ON CONFLICT DO NOTHING`, for rows whose unique index says whether they exist.

Used where a row must be written once whoever writes it first (a Stripe event, a payment's
transaction, a ledger entry): one statement both checks and inserts, and a duplicate is not an
error, so no SAVEPOINT is needed to keep the caller's transaction usable. Add `.returning(...)`
to learn whether the row was inserted (nothing comes back when it already existed). PostgreSQL
and SQLite only, the two databases the portal runs on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from portal.extensions import db


def insert_ignoring_duplicates(
    model: type, values: dict[str, Any], *, index_elements: Sequence[str] | None = None
) -> postgresql.Insert | sqlite.Insert:
    """An insert of `values` into `model` that does nothing when a unique index conflicts.

    With `index_elements` only a conflict on that unique index is ignored (any other still
    raises); without, a conflict on any unique index is.
    """
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(model).values(**values)
    elif dialect == "sqlite":
        statement = sqlite.insert(model).values(**values)
    else:
        raise RuntimeError(f"The portal needs PostgreSQL or SQLite, not {dialect}.")
    return statement.on_conflict_do_nothing(index_elements=index_elements)
