"""How requests use their database connection: a connection the server closed never reaches a
request."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import User
from tests.conftest import is_postgres, login


@pytest.fixture
def postgres(app: Flask) -> Flask:
    if not is_postgres(app):
        pytest.skip("needs PostgreSQL")
    return app


def test_pages_still_answer_after_the_database_server_ends_its_sessions(
    postgres: Flask, mentee: User
) -> None:
    """A server restart or an idle-session timeout leaves closed connections in each worker's
    pool; they are replaced before a request uses them, so nobody sees an error page."""
    client = postgres.test_client()
    name = mentee.name
    login(client, mentee)
    assert client.get("/account/profile").status_code == 200
    db.session.remove()
    pooled = db.engine.pool.checkedin()  # type: ignore[attr-defined]
    assert pooled >= 1

    assert _end_the_portals_sessions(db.engine.url) >= pooled

    for _ in range(pooled + 1):  # every pooled connection is taken and checked at least once
        response = client.get("/account/profile")
        assert response.status_code == 200
        assert name in response.text


def _end_the_portals_sessions(url: sa.URL) -> int:
    """What a restart does to the portal's connections, from a connection of another engine."""
    other = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with other.connect() as conn:
            ended = conn.execute(
                sa.text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000))"
                    " FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
    finally:
        other.dispose()
    return int(ended)
