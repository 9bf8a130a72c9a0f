"""Flask extensions: created here once, bound to an app in `create_app`."""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, event, exc

from portal.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate(compare_type=True, render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)
htmx = Htmx()

_IDLE = TransactionStatus.IDLE


def configure_engine(engine: Engine) -> None:
    configure_sqlite(engine)
    replace_closed_connections(engine)


def replace_closed_connections(engine: Engine) -> None:
    """A pooled PostgreSQL connection the server has closed is replaced before anyone uses it.

    When the server restarts or ends a session, it sends a last error message and closes its end,
    so the socket of a closed pooled connection has something to read, and the socket of a good
    idle one has nothing. One poll of the socket tells them apart where `pool_pre_ping` spends a
    round trip to the server on every checkout. Anything else the server might send an idle
    connection only costs a new connection.
    """
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: object, _proxy: object) -> None:
        if dbapi_connection.closed or dbapi_connection.broken:
            raise exc.DisconnectionError("the connection is closed")
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
        if poller.poll(0):  # readable, hung up or in error: never true of a good idle connection
            raise exc.DisconnectionError("the database server closed the connection")


@contextmanager
def read_before_transaction() -> Iterator[None]:
    """Send the session's next read on its own, before the request's transaction begins.

    On PostgreSQL, when the session's connection has no transaction open yet, the read runs in
    autocommit: a request that reads nothing else sends no BEGIN and no ROLLBACK, and its
    connection keeps its prepared statements (psycopg forgets them at every ROLLBACK). Under
    READ COMMITTED, PostgreSQL's default and the portal's, each statement reads its own snapshot
    in a transaction too, so the read sees the same rows. Anything the request does next begins
    a transaction as usual. Nothing is flushed meanwhile: a pending change never commits here.
    """
    connection = db.session.connection()
    driver = connection.connection.driver_connection
    if connection.dialect.name != "postgresql" or driver.info.transaction_status != _IDLE:
        yield
        return
    driver.autocommit = True
    try:
        with db.session.no_autoflush:
            yield
    finally:
        if not driver.closed and driver.info.transaction_status == _IDLE:
            driver.autocommit = False


def configure_sqlite(engine: Engine) -> None:
    """SQLite enforces foreign keys (and so cascades) only when asked, per connection."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
