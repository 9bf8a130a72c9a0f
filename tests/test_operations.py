"""Health and readiness, request ids and redaction in logs, and the backup command."""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade

from portal import stripe_gateway
from portal.extensions import db
from portal.models import Role
from portal.observability import JsonFormatter, redact
from tests.builders import make_user
from tests.conftest import PASSWORD, is_postgres, login


def test_healthz_answers_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_is_ready_when_database_migrations_and_stripe_answer(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_gateway, "ping", lambda: None)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ready",
        "database": "ok",
        "migrations": "ok",
        "stripe": "ok",
    }


def test_a_stripe_outage_leaves_readyz_ready_and_shows_on_the_admins_system_page(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable() -> None:
        raise stripe_gateway.StripeUnavailable("down")

    monkeypatch.setattr(stripe_gateway, "ping", unreachable)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ready",
        "database": "ok",
        "migrations": "ok",
        "stripe": "failing",
    }
    admin = app.test_client()
    login(admin, make_user(Role.ADMIN, password=PASSWORD))
    page = admin.get("/admin/system")
    assert page.status_code == 200
    assert re.search(
        r'id="check-stripe">Stripe: <span class="badge badge-bad">does not answer', page.text
    )
    assert re.search(
        r'id="check-database">Database: <span class="badge badge-ok">answers', page.text
    )


def test_readyz_reports_migrations_behind(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_gateway, "ping", lambda: None)
    downgrade(revision="base")
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json["migrations"] == "behind"
    finally:
        from flask_migrate import upgrade

        upgrade()


def test_every_response_carries_a_request_id(client: FlaskClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert first and second and first != second


def test_a_well_formed_incoming_request_id_is_kept(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "lb-1234abcd"})
    assert response.headers["X-Request-ID"] == "lb-1234abcd"
    hostile = client.get("/healthz", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert hostile.headers["X-Request-ID"] != "<script>alert(1)</script>"


@pytest.mark.parametrize(
    "secret",
    [
        "sk_test_51abcDEF",
        "sk_live_zzz999",
        "whsec_abc123",
        "4242 4242 4242 4242",
        "4000000000000002",
    ],
)
def test_logs_never_carry_secrets_or_card_numbers(secret: str) -> None:
    assert secret not in redact(f"calling with {secret} now")


def test_production_logs_are_json_with_the_request_id() -> None:
    record = logging.LogRecord("portal", logging.INFO, __file__, 1, "paid %s", ("ok",), None)
    record.request_id = "abc12345"
    line = JsonFormatter().format(record)
    assert '"request_id": "abc12345"' in line
    assert '"message": "paid ok"' in line


def test_db_backup_writes_a_restorable_copy(app: Flask, tmp_path: Path) -> None:
    if is_postgres(app):
        pytest.skip("the SQLite backup path; PostgreSQL is covered by the pg_dump test")
    target = tmp_path / "backup.sqlite"
    result = app.test_cli_runner().invoke(args=["db-backup", "--output", str(target)])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(target) as copy:
        tables = {row[0] for row in copy.execute("select name from sqlite_master")}
    assert "users" in tables and "alembic_version" in tables


def test_db_backup_on_postgres_uses_pg_dump(app: Flask, tmp_path: Path) -> None:
    if not is_postgres(app):
        pytest.skip("needs PostgreSQL")
    target = tmp_path / "backup.dump"
    result = app.test_cli_runner().invoke(args=["db-backup", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"PGDMP")
    db.session.remove()
