"""The database engine's tuning, per dialect: what every connection the portal opens is told.

- SQLite (the embedded default) serialises writers as PostgreSQL's row locks do: a transaction
  takes the database's write lock with `BEGIN IMMEDIATE` before its first write or locking read
  (`SELECT ... FOR UPDATE`, which SQLite cannot express), and waits up to BUSY_TIMEOUT_MS for
  it. Reads before that run on their own, as each statement under PostgreSQL's READ COMMITTED
  reads its own snapshot; everything from the lock to the commit sees one state of the database,
  so "read under lock, then write" means on SQLite what it means on PostgreSQL. Foreign keys
  (and so cascades) are enforced, which SQLite does only when asked, per connection.
- PostgreSQL connections ask for TCP keepalives, and a pooled connection that no longer works
  is replaced before anyone uses it (`replace_closed_connections`).
- PostgreSQL cursors describe a result's columns when the description is read, not when it is
  asked for (`describe_columns_on_demand`).
- `read_before_transaction` lets a request's first read run before its transaction begins.
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, overload

import psycopg
from psycopg.pq import ExecStatus, TransactionStatus
from sqlalchemy import Engine, event, exc

from portal.extensions import db

_IDLE = TransactionStatus.IDLE


def configure_engine(engine: Engine) -> None:
    configure_sqlite(engine)
    keep_tcp_connections_alive(engine)
    replace_closed_connections(engine)
    describe_columns_on_demand(engine)


# libpq's TCP keepalives for PostgreSQL connections: firewalls and NAT keep an idle connection
# open, and a peer gone silent is noticed within about a minute of idleness; the checkout poll
# then sees the socket's error. Connections over a local socket ignore them.
POSTGRES_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}

# A connection back in use within this many seconds is not pinged (see below).
IDLE_PING_SECONDS = 10.0


def keep_tcp_connections_alive(engine: Engine) -> None:
    """Every new PostgreSQL connection asks for POSTGRES_KEEPALIVES, unless its URL says else."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "do_connect")
    def _on_connect(_dialect: object, _record: object, _args: object, params: dict) -> None:
        for name, value in POSTGRES_KEEPALIVES.items():
            params.setdefault(name, value)


def replace_closed_connections(engine: Engine) -> None:
    """A pooled PostgreSQL connection that no longer works is replaced before anyone uses it.

    `pool_pre_ping` spends a round trip to the server on every checkout; two checks spend it
    only when it can tell something new:
    - A server that restarts or ends a session sends a last error message and closes its end,
      so the socket of such a connection has something to read, or has hung up, and the socket
      of a good idle one has neither. One poll tells them apart, on every checkout. Anything
      else a server might send an idle connection only costs a new connection.
    - A connection can also die without a word reaching this host: a failover, a host that
      lost power, a firewall that forgot it. It polls like a good one, so a connection that sat
      in the pool for more than IDLE_PING_SECONDS is also pinged, as `pool_pre_ping` would
      have. Under load every connection is back in use within milliseconds and skips it.
    """
    if engine.dialect.name != "postgresql":
        return
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: object, record: Any) -> None:
        if record is not None:
            record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: object) -> None:
        if dbapi_connection.closed or dbapi_connection.broken:
            raise exc.DisconnectionError("the connection is closed")
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
        if poller.poll(0):  # readable, hung up or in error: never true of a good idle connection
            raise exc.DisconnectionError("the database server closed the connection")
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is not None and time.monotonic() - checked_in_at > IDLE_PING_SECONDS:
            try:
                dialect.do_ping(dbapi_connection)
            except dialect.loaded_dbapi.Error as error:
                raise exc.DisconnectionError("the connection did not answer a ping") from error


class ColumnsOnDemand(Sequence[psycopg.Column]):
    """A result's `cursor.description`: its count known at once, its columns made when read.

    psycopg makes a `Column` for each column of every result (eight calls a column), and
    SQLAlchemy asks for the description of every result; yet for a statement it has run before
    it reads only whether there is one, and keeps the columns it worked out the first time. The
    columns are made from the result as it was when the description was asked for, even if the
    cursor has run another statement since.
    """

    def __init__(self, cursor: psycopg.Cursor[Any], count: int) -> None:
        self._result = SimpleNamespace(
            pgresult=cursor.pgresult, _encoding=cursor._encoding, adapters=cursor.adapters
        )
        self._count = count
        self._columns: list[psycopg.Column] | None = None

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> psycopg.Column: ...
    @overload
    def __getitem__(self, index: slice) -> list[psycopg.Column]: ...
    def __getitem__(self, index: int | slice) -> psycopg.Column | list[psycopg.Column]:
        return self._made()[index]

    def __iter__(self) -> Iterator[psycopg.Column]:
        return iter(self._made())

    def __eq__(self, other: object) -> bool:
        return list(self) == other

    __hash__ = None  # type: ignore[assignment] # a list's equality, like psycopg's

    def _made(self) -> list[psycopg.Column]:
        if self._columns is None:
            self._columns = [psycopg.Column(self._result, i) for i in range(self._count)]  # type: ignore[arg-type]
        return self._columns


_ROWS = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)


class DescribeOnDemandCursor(psycopg.Cursor[Any]):
    """psycopg's cursor, its `description` made as `ColumnsOnDemand`; the same answer."""

    @property
    def description(self) -> ColumnsOnDemand | None:  # type: ignore[override]
        result = self.pgresult
        # psycopg's own test: columns, or a statement that returns rows ("SELECT ;").
        if result and (result.nfields or result.status in _ROWS):
            return ColumnsOnDemand(self, result.nfields)
        return None


def describe_columns_on_demand(engine: Engine) -> None:
    """Every PostgreSQL connection's cursors are DescribeOnDemandCursor, which is psycopg's
    default cursor: a connection given another cursor class (`cursor_factory` in the engine's
    `connect_args`) is refused rather than given this one in its place."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        if dbapi_connection.cursor_factory is not psycopg.Cursor:
            raise RuntimeError(
                f"The PostgreSQL connection's cursor_factory is "
                f"{dbapi_connection.cursor_factory.__qualname__}, but the portal's cursors are "
                "psycopg's default one, describing their columns on demand "
                "(portal.database.DescribeOnDemandCursor): remove cursor_factory from the "
                "engine's connect_args."
            )
        dbapi_connection.cursor_factory = DescribeOnDemandCursor


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
    if (
        connection.dialect.name != "postgresql"
        or driver.autocommit
        or driver.info.transaction_status != _IDLE
    ):
        yield
        return
    driver.autocommit = True
    try:
        with db.session.no_autoflush:
            yield
    finally:
        if driver.closed:
            pass  # invalidated: the pool never hands it out again
        elif driver.info.transaction_status == _IDLE:
            driver.autocommit = False
        else:  # a result still streaming: never let the connection back into the pool like this
            connection.invalidate()


# How long a SQLite writer waits for another's write lock before it gives up ("database is
# locked"): longer than any of the portal's write transactions takes.
BUSY_TIMEOUT_MS = 10_000

# Statements that write. Anything else is a read, unless compiled from a `FOR UPDATE` select.
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def configure_sqlite(engine: Engine) -> None:
    """Foreign keys on, a busy timeout, and writers serialised from their first lock or write."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "before_cursor_execute")
    def _lock_before_writing(
        conn: Any, cursor: Any, statement: str, _params: object, context: Any, _many: bool
    ) -> None:
        dbapi_connection = cursor.connection
        if dbapi_connection.in_transaction or not _takes_the_write_lock(statement, context):
            return
        # The driver would BEGIN (DEFERRED) before the first write, after the reads that decided
        # it: another writer could commit in between. IMMEDIATE takes the lock now, or waits.
        dbapi_connection.execute("BEGIN IMMEDIATE")


def _takes_the_write_lock(statement: str, context: Any) -> bool:
    if statement.lstrip()[:7].upper().startswith(_WRITES):
        return True
    compiled = getattr(context, "compiled", None)
    select_ = getattr(compiled, "statement", None)
    return getattr(select_, "_for_update_arg", None) is not None
