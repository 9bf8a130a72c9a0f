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
