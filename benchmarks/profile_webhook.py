"""Profile webhook ingest one event at a time: milliseconds and SQL statements per event.

Posts signed `payment_intent.succeeded` events, each paying a fresh pending booking, through
the Flask test client (no HTTP server, no concurrency) against a benchmark database, so that a
change to the webhook path can be compared before and after on a busy machine without gunicorn
or wrk. Prints the median and p95 milliseconds per event and the statements per event, then
(unless `--no-profile`) the statements of one more event and its cProfile, slowest first.

    .venv/bin/python benchmarks/profile_webhook.py [--database-url postgresql:///portal_bench]
        [--events 200] [--keep] 2>/dev/null

The database needs the benchmark data (`generate_data.py`): its coaches and a mentee. The
bookings, events, transactions, ledger entries and mail the run makes are removed afterwards,
and the coaches' balances put back, so the database stays consistent with its ledger (`--keep`
keeps them). Each event's log lines go to stderr, as in production: they are part of the cost. As
in production, the mail an event causes is queued after the commit to the task queue in Redis
(a throwaway `redis-server`, started for the run), not sent in the request as the test
settings would.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import free_port, signed_payment_succeeded, start_redis, stop  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402

SECRET = "whsec_profile"  # noqa: S105 (a local test secret)
EVENT_PREFIX = "evt_profile_"
PATH = "/webhooks/stripe"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql:///portal_bench")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile listing")
    parser.add_argument("--keep", action="store_true", help="leave the rows the run made")
    args = parser.parse_args()

    libpq_url = args.database_url.replace("postgresql+psycopg://", "postgresql://")
    redis_port = free_port()
    redis = start_redis(redis_port)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": libpq_url.replace("postgresql://", "postgresql+psycopg://"),
            "STRIPE_WEBHOOK_SECRET": SECRET,
            "TASKS_IMMEDIATE": False,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/1",
        },
        env_name="testing",
    )
    run = f"{int(time.time())}_"
    bookings = _pending_bookings(libpq_url, args.events + 1)
    statements: list[str] = []
    with app.app_context():
        sa.event.listen(
            db.engine, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql)
        )
    client = app.test_client()
    try:
        seconds = []
        cpu_started = time.process_time()
        for n, booking_id in enumerate(bookings[:-1]):
            started = time.perf_counter()
            _post(client, run + str(n), booking_id)
            seconds.append(time.perf_counter() - started)
        cpu_ms = 1000 * (time.process_time() - cpu_started) / len(seconds)
        count = len(statements)
        ms = sorted(1000 * s for s in seconds)
        print(
            f"{len(ms)} events: p50 {statistics.median(ms):.2f} ms, "
            f"p95 {ms[int(0.95 * (len(ms) - 1))]:.2f} ms, "
            f"{cpu_ms:.2f} ms of this process's CPU and "
            f"{count / len(ms):.1f} statements per event"
        )
        if not args.no_profile:
            statements.clear()
            profile = cProfile.Profile()
            profile.enable()
            _post(client, run + "profiled", bookings[-1])
            profile.disable()
            print("\nStatements of one event:")
            print("\n".join("  " + sql.split("\n")[0][:110] for sql in statements))
            print()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    finally:
        if not args.keep:
            _remove_run(libpq_url, bookings, run)
        stop(redis)


def _post(client: Any, suffix: str, booking_id: int) -> None:
    body, signature = signed_payment_succeeded(
        EVENT_PREFIX + suffix, f"pi_profile_{suffix}", booking_id, SECRET, int(time.time())
    )
    response = client.post(
        PATH,
        data=body,
        headers={"Stripe-Signature": signature},
        content_type="application/json",
    )
    if response.status_code != 200 or response.text != "processed":
        raise SystemExit(f"Event for booking {booking_id}: {response.status_code} {response.text}")


def _pending_bookings(url: str, count: int) -> list[int]:
    """`count` new bookings awaiting payment, spread over 100 coaches, for one mentee."""
    with psycopg.connect(url) as conn:
        mentee = conn.execute("SELECT min(id) FROM users WHERE role = 'mentee'").fetchone()[0]
        coaches = [r[0] for r in conn.execute("SELECT user_id FROM coach_profiles LIMIT 100")]
        if mentee is None or not coaches:
            raise SystemExit("No benchmark data: run benchmarks/generate_data.py first.")
        now = datetime.now(UTC)
        ids = []
        for n in range(count):
            row = conn.execute(
                "INSERT INTO coaching_sessions (coach_id, mentee_id, starts_at, duration_minutes,"
                " status, price_amount, currency, platform_fee_amount, coach_payout_amount,"
                " payment_status, created_at, updated_at) VALUES (%s, %s, %s, 60,"
                " 'pending_payment', 100, 'USD', 20, 80, 'pending', %s, %s) RETURNING id",
                (coaches[n % len(coaches)], mentee, now + timedelta(days=30), now, now),
            ).fetchone()
            ids.append(row[0])
    return ids


def _remove_run(url: str, bookings: list[int], run: str) -> None:
    """Delete what the run made and take its ledger entries back out of the balances."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TEMP TABLE run_entries AS SELECT e.id, e.coach_id, e.total_delta,"
            " e.pending_delta, e.available_delta FROM ledger_entries e"
            " JOIN transactions t ON t.id = e.transaction_id WHERE t.session_id = ANY(%s)",
            (bookings,),
        )
        conn.execute(
            "UPDATE coach_profiles p SET total_earnings = p.total_earnings - s.total,"
            " pending_balance = p.pending_balance - s.pending,"
            " available_balance = p.available_balance - s.available,"
            " ledger_entry_count = p.ledger_entry_count - s.entries"
            " FROM (SELECT coach_id, sum(total_delta) AS total, sum(pending_delta) AS pending,"
            " sum(available_delta) AS available, count(*) AS entries"
            " FROM run_entries GROUP BY coach_id) s"
            " WHERE p.user_id = s.coach_id"
        )
        conn.execute("DELETE FROM ledger_entries WHERE id IN (SELECT id FROM run_entries)")
        conn.execute("DELETE FROM transactions WHERE session_id = ANY(%s)", (bookings,))
        conn.execute("DELETE FROM outbox WHERE booking_id = ANY(%s)", (bookings,))
        conn.execute("DELETE FROM coaching_sessions WHERE id = ANY(%s)", (bookings,))
        conn.execute(
            "DELETE FROM stripe_events WHERE stripe_event_id LIKE %s", (EVENT_PREFIX + run + "%",)
        )


if __name__ == "__main__":
    main()
