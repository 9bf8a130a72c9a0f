"""Shared fixtures: one migrated database per test run, emptied after every test.

The database is SQLite unless TEST_DATABASE_URL points at PostgreSQL; then the run gets a
database of its own (created from that URL's server and dropped afterwards), so several runs can
share one server. Tables come from the migrations, never from `create_all`.

Tests commit for real, as the portal does, and every table is emptied after each test: the
webhook, race and browser tests need other threads and processes to see what a test wrote, which
a rolled-back outer transaction would hide from them.
"""

from __future__ import annotations

import contextvars
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask, has_app_context
from flask.testing import FlaskClient

from portal import create_app
from portal.accounts import services as account_services
from portal.extensions import db
from portal.models import Base, Role, User
from tests.builders import make_user

pytest_plugins = ["tests.stripe_fake"]  # the one Stripe fake at the gateway seam: `stripe_fake`

PASSWORD = "correct horse battery"  # noqa: S105


def _postgres_server_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "")
    return url if url.startswith(("postgresql", "postgres")) else None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server_url = _postgres_server_url()
    if server_url is None:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal-test.db'}"
        return
    name = f"portal_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(_psycopg(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield _psycopg(re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", server_url, count=1))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _psycopg(url: str) -> str:
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)


def is_postgres(app: Flask) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> str:
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url}, env_name="testing")
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return database_url


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> None:
    # Production cost is tens of milliseconds a hash; the suite hashes hundreds of passwords.
    account_services._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own app context, as in production.

    The test itself holds an app context for its database work; without this, requests would
    share its `g` (the signed-in user, rate-limit state) and its database session.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if has_app_context():
            db.session.expire_all()  # see what the request committed
        return response


def make_app(database_url: str, **overrides: object) -> Flask:
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, **overrides}, env_name="testing")
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture
def app(migrated_database: str, tmp_path: Path) -> Iterator[Flask]:
    # Each test's mail goes to a folder of its own (tests.mailbox reads it).
    app = make_app(migrated_database, MAIL_FILE_PATH=str(tmp_path / "mail"))
    with app.app_context():
        yield app
        db.session.remove()
        _empty_all_tables()
        db.engine.dispose()


def _empty_all_tables() -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608 - our table names


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@contextmanager
def statements_run() -> Iterator[list[str]]:
    """The SQL statements the app's engine runs inside the block, in order, as sent."""
    run: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        run.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield run
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


def csrf_token(client: FlaskClient) -> str:
    """The CSRF token the portal puts on every page's <body> for HTMX and forms."""
    page = client.get("/account/login" if not _signed_in(client) else "/account/profile")
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text) or re.search(
        r'"X-CSRFToken": "([^"]+)"', page.text
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def _signed_in(client: FlaskClient) -> bool:
    with client.session_transaction() as session:
        return "_user_id" in session


def login(client: FlaskClient, user: User, password: str = PASSWORD) -> None:
    """Sign in as a person does: the password, then, with two-factor sign-in, their app's code."""
    token = csrf_token(client)
    response = client.post(
        "/account/login",
        data={"email": user.email, "password": password, "csrf_token": token},
    )
    assert response.status_code == 303, response.text
    if response.location == "/account/login/code":
        page = client.get(response.location)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        response = client.post(
            response.location, data={"code": current_code(user), "csrf_token": token}
        )
        assert response.status_code == 303, response.text


def current_code(user: User) -> str:
    """The code `user`'s authenticator app shows now. A code works once, so when this one was
    used already (signing in twice within 30 seconds), wait for the next, as a person would."""
    secret, last_step = db.session.execute(
        sa.select(User.totp_secret, User.totp_last_step).where(User.id == user.id)
    ).one()
    assert secret, f"{user.email} has no two-factor sign-in"
    totp = pyotp.TOTP(secret)
    while last_step is not None and totp.timecode(datetime.now(UTC)) <= last_step:
        time.sleep(0.2)
    return totp.now()


@pytest.fixture
def mentee(app: Flask) -> User:
    return make_user(Role.MENTEE, "mentee.a@example.com", password=PASSWORD)


@pytest.fixture
def coach(app: Flask) -> User:
    return make_user(Role.COACH, "coach.c@example.com", password=PASSWORD)


@pytest.fixture
def admin(app: Flask) -> User:
    return make_user(Role.ADMIN, "admin@example.com", password=PASSWORD)
