"""Profile the admin's transactions list in one process: CPU, statements and round trips per page.

Asks for the pages `run.py` measures (page 1 and page 1,000 of the list filtered by status, as
the signed-in admin a browser would be after its first page) through the Flask test client,
with no HTTP server and no concurrency, so a change to the list can be compared before and
after on a busy machine. Prints per page and round the p50 and p95 milliseconds, the CPU per
request of this process and of its PostgreSQL server process (from `/proc/PID/schedstat`, so
run it on the database's machine), and the SQL statements and round trips (statements plus any
`BEGIN`, `COMMIT` or `ROLLBACK`) per request, then each page's lowest round; then (unless
`--no-profile`) the statements of one more request and a cProfile of 100 more, in CPU time
(the wait for PostgreSQL left out), with the function calls per request, biggest first.

    .venv/bin/python benchmarks/profile_admin.py [--database-url postgresql:///portal_bench]
        [--requests 300] [--rounds 2] [--no-profile] [--save FILE] 2>/dev/null

It writes nothing to the database: the admin's session is made in the test client's cookie,
as signing in would have made it (`generate_data.py`'s admin, who must have a second factor,
as `run.py` gives them), and page 1,000's link is worked out from the data. Give it a quiet
moment's CPU: it measures this process only, but a busy machine still slows it.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.pq import TransactionStatus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from portal import create_app, sealed  # noqa: E402
from portal.extensions import db, login_manager  # noqa: E402
from portal.models import base  # noqa: E402
from portal.pagination import encode  # noqa: E402

ADMIN_EMAIL = "admin@bench.example"
APPLICATION = f"profile-admin-{os.getpid()}"
LIST = "/admin/transactions?status=completed"
PAGE_SIZE = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql:///portal_bench")
    parser.add_argument("--requests", type=int, default=300, help="per page and round")
    parser.add_argument("--rounds", type=int, default=2, help="measure each page this often")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile listing")
    parser.add_argument("--profile-page", default="1", choices=("1", "1000"))
    parser.add_argument("--sort", default="cumulative", help="the cProfile listing's order")
    parser.add_argument("--lines", type=int, default=45, help="of the cProfile listing")
    parser.add_argument("--save", help="write the cProfile's statistics to this file")
    args = parser.parse_args()

    libpq_url = args.database_url.replace("postgresql+psycopg://", "postgresql://")
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": libpq_url.replace("postgresql://", "postgresql+psycopg://"),
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"application_name": APPLICATION}},
        },
        env_name="testing",
    )
    app.testing = False  # errors answer as pages, as in production
    _read_second_factors_sealed_elsewhere()
    pages = {"1": LIST, "1000": f"{LIST}&after={_cursor_after(libpq_url, 999 * PAGE_SIZE)}"}
    trips = _RoundTrips(app)
    client = _signed_in_client(app, libpq_url)
    for path in pages.values():  # warm the process: templates, plans, the first connection
        for _ in range(20):
            _get(client, path)

    server = common.server_processes(libpq_url, APPLICATION)
    lowest: dict[str, tuple[float, float]] = {}
    for round_ in range(1, args.rounds + 1):
        for name, path in pages.items():
            seconds = []
            trips.reset()
            server_started = common.cpu_seconds(server)
            cpu_started = time.process_time()
            for _ in range(args.requests):
                started = time.perf_counter()
                _get(client, path)
                seconds.append(time.perf_counter() - started)
            cpu_ms = 1000 * (time.process_time() - cpu_started) / args.requests
            server_ms = 1000 * (common.cpu_seconds(server) - server_started) / args.requests
            ms = sorted(1000 * s for s in seconds)
            print(
                f"round {round_}, page {name}: p50 {statistics.median(ms):.2f} ms, "
                f"p95 {ms[int(0.95 * (len(ms) - 1))]:.2f} ms, "
                f"CPU {cpu_ms:.2f} ms here + {server_ms:.2f} ms in PostgreSQL, "
                f"{trips.statements / args.requests:.1f} statements and "
                f"{trips.total / args.requests:.1f} round trips per request",
                flush=True,
            )
            low_cpu, low_server = lowest.get(name, (cpu_ms, server_ms))
            lowest[name] = (min(low_cpu, cpu_ms), min(low_server, server_ms))
    # On a shared machine the other work only ever adds: the lowest round is the page's own cost.
    print(f"\nLowest of {args.rounds} rounds, CPU ms per request (this process + PostgreSQL):")
    for name, (cpu_ms, server_ms) in lowest.items():
        print(f"  page {name:<5} {cpu_ms:.3f} + {server_ms:.3f} = {cpu_ms + server_ms:.3f}")

    if not args.no_profile:
        path = pages[args.profile_page]
        trips.reset()
        trips.keep = True
        _get(client, path)
        trips.keep = False
        print(f"\nStatements of one request of page {args.profile_page}:")
        print("\n".join("  " + sql.split("\n")[0][:110] for sql in trips.sql))
        profile = cProfile.Profile(time.process_time)  # CPU, not the wait for PostgreSQL
        profile.enable()
        for _ in range(100):
            _get(client, path)
        profile.disable()
        stats = pstats.Stats(profile)
        print(f"\n{stats.total_calls / 100:,.0f} function calls per request")  # type: ignore[attr-defined]
        stats.sort_stats(args.sort).print_stats(args.lines)
        if args.save:
            profile.dump_stats(args.save)


class _RoundTrips:
    """Counts what the engine sends: statements, and the BEGIN/COMMIT/ROLLBACK psycopg adds."""

    def __init__(self, app: Any) -> None:
        self.statements = self.transactions = 0
        self.keep = False
        self.sql: list[str] = []
        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "commit", self._end)
        sa.event.listen(engine, "rollback", self._end)

    @property
    def total(self) -> int:
        return self.statements + self.transactions

    def reset(self) -> None:
        self.statements = self.transactions = 0
        self.sql.clear()

    def _statement(self, conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        driver = conn.connection.driver_connection
        if not driver.autocommit and driver.info.transaction_status == TransactionStatus.IDLE:
            self.transactions += 1  # psycopg sends BEGIN first
            if self.keep:
                self.sql.append("BEGIN")
        self.statements += 1
        if self.keep:
            self.sql.append(sql)

    def _end(self, conn: Any) -> None:
        driver = conn.connection.driver_connection
        if driver.info.transaction_status != TransactionStatus.IDLE:
            self.transactions += 1
            if self.keep:
                self.sql.append("COMMIT/ROLLBACK")


def _read_second_factors_sealed_elsewhere() -> None:
    """The admin's second factor was sealed under the key of the `run.py` run that gave it,
    which this process does not have: it is still opened, and fails, on every request (the
    same work), then reads as a placeholder. The list never uses it."""
    opened = sealed.unseal

    def unseal(token: str) -> str:
        try:
            return opened(token)
        except sealed.Unreadable:
            return "sealed under another run's key"

    sealed.unseal = unseal
    base.unseal = unseal  # type: ignore[attr-defined]


def _signed_in_client(app: Any, url: str) -> Any:
    """A test client holding the admin's session cookie, as after signing in and one page."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT id, session_token, totp_secret IS NOT NULL FROM users WHERE email = %s",
            (ADMIN_EMAIL,),
        ).fetchone()
    if row is None:
        raise SystemExit("No benchmark data: run benchmarks/generate_data.py first.")
    if not row[2]:
        raise SystemExit(f"{ADMIN_EMAIL} has no second factor yet: run benchmarks/run.py once.")
    client = app.test_client()
    with app.test_request_context(environ_base=client.environ_base):
        identifier = login_manager._session_identifier_generator()  # as "strong" protection
    with client.session_transaction() as session:
        session["_user_id"] = f"{row[0]}:{row[1]}"
        session["_fresh"] = True
        session["_id"] = identifier
    _get(client, "/account/profile")  # the first page stores the CSRF token in the cookie
    return client


def _cursor_after(url: str, rows: int) -> str:
    """The link to the page after the first `rows` rows of the list (page 1,000 for 49,950)."""
    with psycopg.connect(url) as conn:
        created_at, row_id = conn.execute(
            "SELECT created_at, id FROM transactions WHERE status = 'completed'"
            " ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
            (rows - 1,),
        ).fetchone()
    return encode(created_at, row_id)


def _get(client: Any, path: str) -> None:
    response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code}")


if __name__ == "__main__":
    main()
