"""Profile the most-read pages one request at a time: CPU and SQL statements per request.

Asks the bare route, the directory, a coach's page, the busy coach's dashboard and account page
(`run.py`'s signed-in reference) through the Flask test client (no HTTP server, no concurrency)
of a production-configured portal against a benchmark database, so that a change to these pages
can be compared before and after on a busy machine without gunicorn or wrk. The pages are asked
in turn, `--rounds` times, `--requests` each time, after one request each that fills what the
pages keep; it prints each round's milliseconds of CPU per request in this process and in its
PostgreSQL server process (from `/proc/PID/schedstat`, so run it on the database's machine),
the median wall milliseconds and the statements per request, then (with `--profile PAGE`) the
cProfile of that page's CPU over `--requests` more requests.

    .venv/bin/python benchmarks/profile_pages.py [--database-url postgresql:///portal_bench]
        [--requests 300] [--rounds 2] [--profile directory] 2>/dev/null

It only reads: visitors ask as `wrk` does in `run.py` (no cookie), and the coach is signed in
by a session cookie made from the database's own sign-in token, not by the sign-in form.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db, login_manager  # noqa: E402

COACH_EMAIL = "coach1@bench.example"
USER_AGENT = "profile-pages"
APPLICATION = f"profile-pages-{os.getpid()}"
PAGES = {
    "bare": ("/healthz", False),
    "directory": ("/", False),
    "coach page": ("/coaches/2", False),
    "dashboard": ("/coach/earnings", True),
    "account": ("/account/profile", True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql:///portal_bench")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", choices=sorted(PAGES), help="print this page's cProfile")
    parser.add_argument("--sort", default="cumulative", help="cProfile's sort (tottime...)")
    parser.add_argument("--save", help="write the cProfile's statistics to this file")
    args = parser.parse_args()

    libpq_url = args.database_url.replace("postgresql+psycopg://", "postgresql://")
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": libpq_url.replace("postgresql://", "postgresql+psycopg://"),
            "SECRET_KEY": secrets.token_hex(32),
            "STRIPE_SECRET_KEY": "sk_test_profile",
            "STRIPE_API_BASE": "http://127.0.0.1:9",  # never called by the measured pages
            "STRIPE_WEBHOOK_SECRET": "whsec_profile",
            "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_profile_connect",
            "SESSION_COOKIE_SECURE": False,  # the test client speaks plain HTTP, as run.py does
            "WEB_WORKERS": 1,
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"application_name": APPLICATION}},
        },
        env_name="production",
    )
    statements: list[str] = []
    with app.app_context():
        sa.event.listen(
            db.engine, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql)
        )
    visitor = app.test_client()
    visitor.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    coach = app.test_client()
    coach.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    _sign_in(app, coach, libpq_url)
    clients = {name: coach if signed_in else visitor for name, (_, signed_in) in PAGES.items()}

    for name, (path, _) in PAGES.items():
        _get(clients[name], path)  # what the page keeps is made here, not measured
    server = common.server_processes(libpq_url, APPLICATION)
    print(
        f"{'page':<12} {'round':>5} {'CPU ms':>8} {'PG CPU ms':>10} {'p50 ms':>8} "
        f"{'statements':>11}"
    )
    lowest: dict[str, tuple[float, float]] = {}
    for round_ in range(1, args.rounds + 1):
        for name, (path, _) in PAGES.items():
            statements.clear()
            seconds = []
            server_started = common.cpu_seconds(server)
            cpu_started = time.process_time()
            for _ in range(args.requests):
                started = time.perf_counter()
                _get(clients[name], path)
                seconds.append(time.perf_counter() - started)
            cpu_ms = 1000 * (time.process_time() - cpu_started) / args.requests
            server_ms = 1000 * (common.cpu_seconds(server) - server_started) / args.requests
            p50 = 1000 * statistics.median(seconds)
            print(
                f"{name:<12} {round_:>5} {cpu_ms:>8.3f} {server_ms:>10.3f} {p50:>8.3f} "
                f"{len(statements) / args.requests:>11.1f}"
            )
            low_cpu, low_server = lowest.get(name, (cpu_ms, server_ms))
            lowest[name] = (min(low_cpu, cpu_ms), min(low_server, server_ms))
    # On a shared machine the other work only ever adds: the lowest round is the page's own cost.
    print(f"\nLowest of {args.rounds} rounds, CPU ms per request (this process + PostgreSQL):")
    for name, (cpu_ms, server_ms) in lowest.items():
        print(f"  {name:<12} {cpu_ms:.3f} + {server_ms:.3f} = {cpu_ms + server_ms:.3f}")
    if args.profile:
        path, _ = PAGES[args.profile]
        statements.clear()
        profile = cProfile.Profile(time.process_time)  # CPU, not the waits on PostgreSQL
        profile.enable()
        for _ in range(args.requests):
            _get(clients[args.profile], path)
        profile.disable()
        print(f"\nStatements of one request to {path}:")
        one = statements[: len(statements) // args.requests]
        print("\n".join("  " + sql.split("\n")[0][:110] for sql in one))
        print()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(45)
        if args.save:
            profile.dump_stats(args.save)


def _get(client: Any, path: str) -> None:
    response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")


def _sign_in(app: Any, client: Any, url: str) -> None:
    """Hold the session cookie the sign-in form would have given the busy coach."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT id, session_token FROM users WHERE email = %s", (COACH_EMAIL,)
        ).fetchone()
    if row is None:
        raise SystemExit("No benchmark data: run benchmarks/generate_data.py first.")
    with app.test_request_context(environ_base=client.environ_base):
        identifier = login_manager._session_identifier_generator()
    with client.session_transaction() as session:
        session["_user_id"] = f"{row[0]}:{row[1]}"
        session["_fresh"] = True
        session["_id"] = identifier


if __name__ == "__main__":
    main()
