"""Keyset pagination: pages found by the last row's sort key, never by OFFSET.

Every list that can grow without bound (the directory, sessions, open times, invoices, the
admin's transactions, events, users and audit log) is read through `fetch_page`.

A page is the `size` rows after (or before) a cursor on `(key, id)`, in the list's order, so
page 1,000 costs what page 1 costs: one index range read. A cursor is `<key>_<id>` in the URL
(a datetime as microseconds since the epoch, a number as its decimal string), so any page can
be linked to or jumped to directly.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.parsing import BadRequestInput, parse_int, parse_money

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# What a person sees for a page link that does not parse (the app answers 400 with it).
BAD_CURSOR_MESSAGE = (
    "That page link is not valid (it may have been cut short or edited). "
    "Go back to the first page and follow the Next and Previous links from there."
)
# Bounds a decoded cursor must respect, so a forged one is refused here rather than by the
# database (PostgreSQL rejects an integer out of its column's range with an error).
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
MAX_NUMBER = Decimal(10) ** 15


class BadCursor(BadRequestInput):
    """A page link that does not parse or is out of range; answered as a 400 that says so."""

    def __init__(self, cursor: str = "") -> None:
        super().__init__(BAD_CURSOR_MESSAGE)
        self.cursor = cursor


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
        row_id = parse_int(raw_id, maximum=MAX_INT64)
        if kind == "datetime":
            micros = parse_int(value, minimum=-MAX_INT64, maximum=MAX_INT64)
            return EPOCH + timedelta(microseconds=micros), row_id
        number = parse_money(value, places=2, digits=17, negative=True)
        if abs(number) >= MAX_NUMBER:
            raise BadCursor(cursor)
        return number, row_id
    except (BadRequestInput, OverflowError) as exc:
        raise BadCursor(cursor) from exc


def _checked(
    value: datetime | Decimal, row_id: int, key: sa.ColumnElement, id_column: sa.ColumnElement
) -> tuple[datetime | Decimal | int, int]:
    """The decoded cursor in the types of its columns, or BadCursor when it cannot fit."""
    largest = MAX_INT64 if isinstance(id_column.type, sa.BigInteger) else MAX_INT32
    if not 0 <= row_id <= largest:
        raise BadCursor(f"{value}_{row_id}")
    if isinstance(value, Decimal) and isinstance(key.type, sa.Integer):
        if value != value.to_integral_value() or abs(value) > largest:
            raise BadCursor(f"{value}_{row_id}")
        return int(value), row_id
    return value, row_id


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
    params: dict[str, Any] | None = None,
) -> Page:
    """Run `query` (an ORM select of one entity, or of columns, `row_id`'s named `id`) for the
    page after/before a cursor: its entities, or its rows.

    `key_of(row)` gives a row's sort value (default: the attribute named like `key`). A list
    that keeps its `query` (built once, or once per filter) has its page statement kept too;
    `params` are the values of the bound parameters `query` names (a filter's values).
    """
    backwards = before is not None and after is None
    cursor = before if backwards else after
    forward_desc = descending != backwards  # the order rows are read in
    values: dict[str, Any] = dict(params or {})
    if cursor:
        values[_VALUE], values[_ID] = _checked(*decode(cursor, kind), key, row_id)
    paged = _paged(query, key, row_id, forward_desc, bool(cursor), size)
    result = db.session.execute(paged.statement, values)
    rows = list(result.scalars().unique() if paged.one_entity else result)
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


# The cursor's values are bound parameters of the page statement, not part of it.
_VALUE, _ID = "keyset_value", "keyset_id"


@dataclass(frozen=True)
class _Paged:
    statement: sa.Select
    one_entity: bool


# Each list statement's page statements, kept while that statement lives: a list that keeps its
# statement (built once, or per filter) keeps its pages' too, and one built per request takes
# its pages with it rather than crowding out the kept ones.
_PAGES: weakref.WeakKeyDictionary[sa.Select, dict[tuple[Any, ...], _Paged]] = (
    weakref.WeakKeyDictionary()
)


def _paged(
    query: sa.Select,
    key: sa.ColumnElement,
    row_id: sa.ColumnElement,
    forward_desc: bool,
    from_cursor: bool,
    size: int,
) -> _Paged:
    """`query` ordered and cut to one page (and a row more, to tell whether another follows),
    after a cursor given as parameters. The same statement object keeps SQLAlchemy's cache
    key, which is worked out by walking the whole statement, and PostgreSQL's prepared one."""
    pages = _PAGES.setdefault(query, {})
    shape = (key, row_id, forward_desc, from_cursor, size)
    paged = pages.get(shape)
    if paged is None:
        paged = pages[shape] = _page_of(query, *shape)
    return paged


def _page_of(
    query: sa.Select,
    key: sa.ColumnElement,
    row_id: sa.ColumnElement,
    forward_desc: bool,
    from_cursor: bool,
    size: int,
) -> _Paged:
    one_entity = len(query.column_descriptions) == 1
    if from_cursor:
        bound = sa.tuple_(key, row_id)
        target = sa.tuple_(
            sa.bindparam(_VALUE, type_=key.type), sa.bindparam(_ID, type_=row_id.type)
        )
        query = query.where(bound < target if forward_desc else bound > target)
    order = (key.desc(), row_id.desc()) if forward_desc else (key.asc(), row_id.asc())
    # The limit is written into the statement, not bound: PostgreSQL plans a prepared statement
    # once for all its executions only when that plan costs no more than one made for the
    # values, and a bound limit is costed as a tenth of the table (the admin list's 51 rows
    # as 108,091), so every page was planned again on every request.
    limit = sa.literal_column(str(int(size) + 1), sa.Integer)
    return _Paged(query.order_by(*order).limit(limit), one_entity)
