"""How requests use their database connection: a pooled connection the server closed is replaced
before a request uses it and a good one is kept, one idle for long is pinged first, the
signed-in user is read without opening a transaction (with the coach's rows only on the pages
only coaches open), and whatever a request writes after that is still written whole or not at
all (which only PostgreSQL could get wrong); a page of the admin's transactions opens no
transaction either."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask
from flask_login import current_user
from psycopg.pq import Trace

from portal import database
from portal.extensions import db
from portal.models import Role, User
from portal.security import allow
from tests.builders import insert_payments, make_connected_account
from tests.conftest import is_postgres, login, statements_run
from tests.payouts.conftest import earn


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


def test_good_pooled_connections_are_kept(postgres: Flask, mentee: User) -> None:
    client = postgres.test_client()
    login(client, mentee)
    db.session.remove()
    before = _sessions_of_the_portal(db.engine.url)
    for _ in range(5):
        assert client.get("/account/profile").status_code == 200
    db.session.remove()
    assert _sessions_of_the_portal(db.engine.url) == before  # none replaced, none added


def test_a_connection_idle_in_the_pool_for_long_is_pinged_before_use(
    postgres: Flask, mentee: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = postgres.test_client()
    login(client, mentee)
    db.session.remove()

    with _messages_sent(db.engine) as sent:  # back in use at once: no ping
        assert client.get("/account/profile").status_code == 200
    assert sent[0].startswith('Parse\t "" "SELECT users.id'), sent  # the user's read comes first

    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)  # as if each had waited long
    with _messages_sent(db.engine) as sent:
        assert client.get("/account/profile").status_code == 200
    ping, read = sent[0], sent[1]  # the ping (an empty statement), then the user's read
    assert ping.startswith("Query") and read.startswith('Parse\t "" "SELECT users.id'), sent


def test_connections_ask_for_tcp_keepalives(postgres: Flask) -> None:
    with db.engine.connect() as conn:
        pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
        asked = {option.keyword.decode(): option.val for option in pgconn.info}
    for name, value in database.POSTGRES_KEEPALIVES.items():
        assert asked[name] == str(value).encode()


def test_an_unchanged_dashboard_sends_one_statement_and_no_transaction(
    postgres: Flask, coach: User
) -> None:
    make_connected_account(coach)
    earn(coach, "100.00")
    client = postgres.test_client()
    login(client, coach)
    assert client.get("/coach/earnings").status_code == 200  # its sections are kept from here
    db.session.remove()

    with _messages_sent(db.engine) as sent:
        page = client.get("/coach/earnings")
    assert page.status_code == 200 and "$80.00" in page.text

    assert sum(m.startswith("Sync") for m in sent) == 1, sent  # the user, with profile and account
    assert not [m for m in sent if m.startswith("Query")], sent  # no BEGIN, no ROLLBACK


def test_the_signed_in_user_comes_with_the_coachs_rows_only_on_pages_only_coaches_open(
    app: Flask, coach: User
) -> None:
    """The coach's profile and connected account are read with the user where the page reads
    them (the dashboard), and not on a page every signed-in person opens (their account)."""
    make_connected_account(coach)
    client = app.test_client()
    login(client, coach)
    name = coach.name
    db.session.remove()

    with statements_run() as read:
        account_page = client.get("/account/profile")
    assert account_page.status_code == 200 and name in account_page.text
    assert "FROM users" in read[0], read
    assert not [s for s in read if "coach_profiles" in s or "connected_accounts" in s], read

    with statements_run() as read:
        dashboard = client.get("/coach/earnings")
    assert dashboard.status_code == 200 and "Your balance" in dashboard.text
    assert "coach_profiles" in read[0] and "stripe_connected_accounts" in read[0], read


def test_a_page_of_a_long_admin_list_sends_two_statements_and_no_transaction(
    postgres: Flask, admin: User, coach: User, mentee: User
) -> None:
    """The signed-in admin and the page's rows, each read on its own: psycopg keeps both
    statements prepared, and the set's totals come in a request of their own."""
    insert_payments([(mentee, coach)] * 60, start=datetime(2026, 3, 1, tzinfo=UTC))
    email = mentee.email
    client = postgres.test_client()
    login(client, admin)
    assert client.get("/admin/transactions?status=completed").status_code == 200
    db.session.remove()

    with _messages_sent(db.engine) as sent:
        page = client.get("/admin/transactions?status=completed")
    assert page.status_code == 200 and page.text.count('<tr id="txn-') == 50
    assert email in page.text and 'rel="next"' in page.text

    assert sum(m.startswith("Sync") for m in sent) == 2, sent  # the admin, then the page
    assert not [m for m in sent if m.startswith("Query")], sent  # no BEGIN, no ROLLBACK


def test_what_a_request_writes_after_reading_the_user_is_all_or_nothing(
    app: Flask, coach: User
) -> None:
    """The user is read before the request's transaction; the request's writes still share one."""

    @allow(Role.COACH)
    def rename_then_fail() -> str:
        current_user.name = "Half written"
        db.session.flush()  # sent to the database, not committed
        raise RuntimeError("fails after writing")

    @allow(Role.COACH)
    def rename() -> str:
        current_user.name = "Renamed"
        db.session.commit()
        return "ok"

    app.add_url_rule("/test/rename-then-fail", view_func=rename_then_fail)
    app.add_url_rule("/test/rename", view_func=rename)
    name = coach.name
    client = app.test_client()
    login(client, coach)

    assert client.get("/test/rename-then-fail").status_code == 500
    assert _name_of(coach.id) == name

    assert client.get("/test/rename").text == "ok"
    assert _name_of(coach.id) == "Renamed"


def _name_of(user_id: int) -> str:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(User.name).where(User.id == user_id)).scalar_one()


@contextmanager
def _messages_sent(engine: sa.Engine) -> Iterator[list[str]]:
    """What the portal sends PostgreSQL meanwhile, as libpq traces it: one message a line,
    like 'Query "BEGIN"' or 'Parse "" "SELECT ..."'."""
    sent: list[str] = []
    with tempfile.TemporaryFile("w+") as log:

        def trace(dbapi_connection: object, *_: object) -> None:
            pgconn = dbapi_connection.pgconn  # type: ignore[attr-defined]
            pgconn.trace(os.dup(log.fileno()))  # libpq closes its copy when tracing stops
            pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)

        def untrace(dbapi_connection: object, *_: object) -> None:
            dbapi_connection.pgconn.untrace()  # type: ignore[attr-defined]

        sa.event.listen(engine, "checkout", trace, insert=True)  # before the portal's checks
        sa.event.listen(engine, "checkin", untrace)
        try:
            yield sent
        finally:
            sa.event.remove(engine, "checkout", trace)
            sa.event.remove(engine, "checkin", untrace)
            log.seek(0)
            for line in log.read().splitlines():  # a statement's own line breaks start lines too
                direction, _, rest = line.partition("\t")
                if direction == "F":  # from the portal; "B" lines are the server's answers
                    sent.append(rest.partition("\t")[2])


def _sessions_of_the_portal(url: sa.URL) -> set[int]:
    """The server processes of the portal's connections, as another engine sees them."""
    return set(_each_portal_session(url, "pid"))


def _end_the_portals_sessions(url: sa.URL) -> int:
    """What a restart does to the portal's connections: the number it ended."""
    return sum(_each_portal_session(url, "pg_terminate_backend(pid, 10000)"))


def _each_portal_session(url: sa.URL, expression: str) -> list[Any]:
    """`expression` for every other session of the portal's database, from another engine's
    connection (so none of the portal's own pooled connections is used to look)."""
    other = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with other.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        f"SELECT {expression} FROM pg_stat_activity"  # noqa: S608 - ours, above
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalars()
            )
    finally:
        other.dispose()


def _descriptions(cursor: psycopg.Cursor[Any]) -> list[dict[str, Any] | None]:
    """What `cursor.description` tells of each of the cursor's results, in the order of
    `nextset`: whether there is one, its length and truth, its columns' every attribute, and
    how it compares with an empty list and with a list of its own columns."""
    told: list[dict[str, Any] | None] = []
    while True:
        described = cursor.description
        told.append(
            None
            if described is None
            else {
                "length": len(described),
                "true": bool(described),
                "columns": [tuple(column) for column in described],
                "names": [column.name for column in described],
                "type codes": [column.type_code for column in described],
                "sizes": [column.internal_size for column in described],
                "equals []": described == [],
                "equals its columns": described == list(described),
            }
        )
        if not cursor.nextset():
            return told


_STATEMENTS = [
    pytest.param(
        "SELECT 1 AS one, 'usd'::varchar(3) AS currency, 2.50::numeric(10, 2) AS amount",
        id="select",
    ),
    pytest.param(
        "INSERT INTO described (note) VALUES ('a') RETURNING id, amount, note",
        id="insert-returning",
    ),
    pytest.param("UPDATE described SET note = 'b'", id="no-result"),
    pytest.param("SELECT ;", id="no-columns"),
    pytest.param(
        "SELECT 1 AS one; SET application_name = 'portal'; SELECT 'a' AS two",
        id="several-results",
    ),
    pytest.param(None, id="executemany-returning"),
]


@pytest.mark.parametrize("statement", _STATEMENTS)
def test_a_cursors_description_tells_what_psycopgs_own_tells(
    postgres: Flask, statement: str | None
) -> None:
    with db.engine.connect() as connection:
        raw = connection.connection.driver_connection
        raw.execute(
            "CREATE TEMP TABLE described"
            " (id serial, amount numeric(10, 2) DEFAULT 0, note varchar(20))"
        )
        told = []
        for cursor in (database.DescribeOnDemandCursor(raw), psycopg.Cursor(raw)):
            if statement is None:
                cursor.executemany(
                    "INSERT INTO described (note) VALUES (%s) RETURNING id, note",
                    [("a",), ("b",)],
                    returning=True,
                )
            else:
                cursor.execute(statement)
            told.append(_descriptions(cursor))
        ours, psycopgs = told
        assert ours == psycopgs


def test_a_connection_given_another_cursor_class_is_refused(postgres: Flask) -> None:
    engine = sa.create_engine(
        db.engine.url,
        connect_args={"cursor_factory": psycopg.ClientCursor},
        poolclass=sa.NullPool,
    )
    database.describe_columns_on_demand(engine)
    try:
        with pytest.raises(RuntimeError, match="cursor_factory is ClientCursor"):
            engine.connect()
    finally:
        engine.dispose()


def test_a_result_describes_its_own_columns_after_the_cursor_moved_on(postgres: Flask) -> None:
    with db.engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        assert isinstance(cursor, database.DescribeOnDemandCursor)
        cursor.execute("SELECT 1 AS amount, 'usd'::text AS currency, now() AS created_at")
        described = cursor.description
        cursor.execute("SELECT 2 AS other")
        assert [(c.name, c.type_code) for c in described] == [
            ("amount", 23),
            ("currency", 25),
            ("created_at", 1184),
        ]
        assert len(cursor.description) == 1 and cursor.description[0].name == "other"
        cursor.execute("SET application_name = 'portal'")
        assert cursor.description is None
        cursor.execute("SELECT")  # no columns, yet a statement that returns rows
        assert cursor.description == []
        row = connection.execute(sa.text("SELECT 7 AS seven")).one()
        assert row._mapping["seven"] == 7 and row._fields == ("seven",)
