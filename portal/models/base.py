"""The declarative base, the naming convention and the column types every model shares.

Constraint names follow one convention so that migrations can drop and alter them on SQLite and
PostgreSQL alike. Datetimes are always timezone-aware UTC in Python, whatever the database keeps.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from portal.sealed import seal, unseal

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class SealedString(sa.TypeDecorator[str]):
    """Text kept encrypted in the database (`portal.sealed`) and plain in Python."""

    impl = sa.String(255)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else seal(value)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else unseal(value)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """TIMESTAMP WITH TIME ZONE that refuses naive datetimes and always hands back UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("Naive datetimes are not stored; pass a timezone-aware UTC value.")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite keeps no zone; what we wrote was UTC.
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def money_column(name: str | None = None, **kwargs: Any) -> Mapped[Decimal]:
    """A NUMERIC(10,2) column that hands back Decimal, never float; `name` when the column's
    name differs from the attribute's (the seed's names are kept in the database)."""
    if name is not None:
        return mapped_column(name, sa.Numeric(10, 2, asdecimal=True), **kwargs)
    return mapped_column(sa.Numeric(10, 2, asdecimal=True), **kwargs)


def adds_up(parts: str, whole: str) -> str:
    """A CHECK that `parts` (a SQL sum of money columns) equals `whole`, to the cent, exactly.

    SQLite keeps NUMERIC values as floating point and adds them as floats (4.00 + 15.99 is not
    19.99 there); the difference in cents, rounded, is exact on both databases.
    """
    return f"ROUND(({parts} - {whole}) * 100) = 0"


def index_of_values(name: str, *columns: str, unique: bool = False) -> sa.Index:
    """An index holding only the rows whose last column has a value (`WHERE col IS NOT NULL`).

    For a column empty on most rows and only ever looked up by a value: the rows without one
    (most inserts) write no entry, and `col = :value` implies the predicate, so both databases
    still use it. Unique, it refuses what a plain unique index would: empty values never clash.
    """
    has_value = sa.text(f"{columns[-1]} IS NOT NULL")
    return sa.Index(
        name, *columns, unique=unique, sqlite_where=has_value, postgresql_where=has_value
    )


def string_enum(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """A VARCHAR with a CHECK constraint listing the enum's values (same on both databases)."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum_cls),
        values_callable=lambda cls: [m.value for m in cls],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    """`created_at` set on insert; `updated_at` set on insert and on every update (@updatedAt)."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )
