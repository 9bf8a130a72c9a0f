"""Keyset pagination: pages found by the last row's sort key, never by OFFSET.

A page is the `size` rows after (or before) a cursor on `(key, id)`, in the list's order, so
page 1,000 costs what page 1 costs: one index range read. A cursor is `<key>_<id>` in the URL
(a datetime as microseconds since the epoch, a number as its decimal string), so any page can
be linked to or jumped to directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from portal.extensions import db

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadCursor(ValueError):
    """A page link that does not parse: the view says so and shows the first page."""


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None
    prev_cursor: str | None

    @property
    def is_empty(self) -> bool:
        return not self.rows


def encode(value: datetime | Decimal | int, row_id: int) -> str:
    if isinstance(value, datetime):
        delta = value.astimezone(UTC) - EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return f"{micros}_{row_id}"
    return f"{value}_{row_id}"


def decode(cursor: str, kind: str) -> tuple[datetime | Decimal, int]:
    """`kind` is "datetime" or "number"; raises BadCursor for anything else."""
    value, _, raw_id = cursor.rpartition("_")
    try:
        row_id = int(raw_id)
        if kind == "datetime":
            return EPOCH + timedelta(microseconds=int(value)), row_id
        number = Decimal(value)
        if not number.is_finite():
            raise BadCursor(cursor)
        return number, row_id
    except (ValueError, InvalidOperation, OverflowError) as exc:
        raise BadCursor(cursor) from exc


def fetch_page(
    query: sa.Select,
    *,
    key: sa.ColumnElement,
    row_id: sa.ColumnElement,
    kind: str,
    descending: bool = True,
    after: str | None = None,
    before: str | None = None,
    size: int = 50,
    key_of: Any = None,
) -> Page:
    """Run `query` (an ORM select of one entity) for the page after/before a cursor.

    `key_of(row)` gives a row's sort value (default: the attribute named like `key`).
    """
    backwards = before is not None and after is None
    cursor = before if backwards else after
    forward_desc = descending != backwards  # the order rows are read in
    if cursor:
        value, last_id = decode(cursor, kind)
        bound = sa.tuple_(key, row_id)
        target = sa.tuple_(sa.literal(value, key.type), sa.literal(last_id, row_id.type))
        query = query.where(bound < target if forward_desc else bound > target)
    order = (key.desc(), row_id.desc()) if forward_desc else (key.asc(), row_id.asc())
    rows = list(db.session.scalars(query.order_by(*order).limit(size + 1)).unique())
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    get_key = key_of or (lambda row: getattr(row, key.key))
    first = encode(get_key(rows[0]), rows[0].id) if rows else None
    last = encode(get_key(rows[-1]), rows[-1].id) if rows else None
    if backwards:
        return Page(rows, next_cursor=last, prev_cursor=first if more else None)
    return Page(rows, next_cursor=last if more else None, prev_cursor=first if cursor else None)
