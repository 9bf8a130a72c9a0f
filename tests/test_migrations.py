"""Migrations run forward and back on this run's database, and match the models."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from portal.extensions import db
from portal.models import Base


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
