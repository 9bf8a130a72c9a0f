"""Fill a PostgreSQL database with a marketplace's worth of data, fast (COPY).

    .venv/bin/python benchmarks/generate_data.py postgresql:///portal_bench

Makes (by default) 1,000 coaches, 20,000 mentees, 1,000,000 session payments with their
sessions and ledger entries, and 50,000 payouts. Coach #1 (`coach1@bench.example`) holds 20,000
of the payments, for the dashboard benchmark. Every user's password is `bench-password-1`.
Balances are written to agree with the ledger entries, so `flask ledger verify` is clean.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal import create_app  # noqa: E402
from portal.accounts.services import hash_password  # noqa: E402
from portal.money import split_fee  # noqa: E402

PASSWORD = "bench-password-1"  # noqa: S105
START = datetime(2025, 1, 1, tzinfo=UTC)


def migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1)},
        env_name="testing",
    )
    with app.app_context():
        upgrade()


def copy_rows(conn: psycopg.Connection, table: str, columns: list[str], rows) -> int:  # noqa: ANN001
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def generate(
    url: str, coaches: int, mentees: int, transactions: int, payouts: int, hot: int
) -> None:
    rng = random.Random(42)  # noqa: S311 - benchmark data, not secrets
    password_hash = hash_password(PASSWORD)
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        conn.execute(
            "TRUNCATE ledger_entries, refunds, transactions, coaching_sessions, payouts, "
            "availability_slots, stripe_connected_accounts, coach_profiles, audit_logs, "
            "payment_methods, invoices, subscriptions, stripe_events, users "
            "RESTART IDENTITY CASCADE"
        )
        user_cols = [
            "id",
            "email",
            "password_hash",
            "name",
            "role",
            "is_active",
            "session_token",
            "stripe_connect_account_id",
            "created_at",
            "updated_at",
        ]

        def users():  # noqa: ANN202
            for i in range(1, coaches + 1):
                yield (
                    i,
                    f"coach{i}@bench.example",
                    password_hash,
                    f"Coach {i}",
                    "coach",
                    True,
                    f"tok{i}",
                    f"acct_bench{i:06d}",
                    START,
                    now,
                )
            for j in range(1, mentees + 1):
                uid = coaches + j
                yield (
                    uid,
                    f"mentee{j}@bench.example",
                    password_hash,
                    f"Mentee {j}",
                    "mentee",
                    True,
                    f"tok{uid}",
                    None,
                    START,
                    now,
                )
            admin_id = coaches + mentees + 1
            yield (
                admin_id,
                "admin@bench.example",
                password_hash,
                "Bench Admin",
                "admin",
                True,
                f"tok{admin_id}",
                None,
                START,
                now,
            )

        copy_rows(conn, "users", user_cols, users())
        copy_rows(
            conn,
            "stripe_connected_accounts",
            [
                "id",
                "user_id",
                "stripe_account_id",
                "payouts_enabled",
                "details_submitted",
                "charges_enabled",
                "country",
                "default_currency",
                "requires_onboarding",
                "created_at",
                "updated_at",
            ],
            (
                (i, i, f"acct_bench{i:06d}", True, True, True, "US", "USD", False, START, now)
                for i in range(1, coaches + 1)
            ),
        )
        prices = {
            i: Decimal(rng.choice(["60.00", "80.00", "95.00", "120.00", "150.00"]))
            for i in range(1, coaches + 1)
        }

        # Payments: coach 1 gets `hot`, the rest spread over the other coaches.
        totals = {i: Decimal("0.00") for i in range(1, coaches + 1)}
        span = (now - START).total_seconds()

        def payment_rows():  # noqa: ANN202
            for n in range(1, transactions + 1):
                coach = 1 if n <= hot else 2 + (n % max(coaches - 1, 1))
                mentee = coaches + 1 + rng.randrange(mentees)
                split = split_fee(prices[coach], Decimal("20.00"), "USD")
                created = START + timedelta(seconds=span * n / transactions)
                totals[coach] += split.coach_share
                yield n, coach, mentee, split, created

        session_buffer, txn_buffer, entry_buffer = [], [], []
        for n, coach, mentee, split, created in payment_rows():
            session_buffer.append(
                (
                    n,
                    coach,
                    mentee,
                    created,
                    60,
                    "confirmed",
                    f"cs_bench_{n}",
                    split.price,
                    "USD",
                    split.platform_fee,
                    split.coach_share,
                    "paid",
                    f"pi_bench_{n}",
                    created,
                    created,
                )
            )
            txn_buffer.append(
                (
                    n,
                    "session_payment",
                    "completed",
                    split.price,
                    "USD",
                    f"pi_bench_{n}",
                    f"tr_bench_{n}",
                    split.platform_fee,
                    split.coach_share,
                    n,
                    mentee,
                    coach,
                    created,
                    created,
                )
            )
            entry_buffer.append(
                (
                    n,
                    coach,
                    "payment",
                    "USD",
                    split.coach_share,
                    split.coach_share,
                    Decimal("0.00"),
                    n,
                    created,
                )
            )
        copy_rows(
            conn,
            "coaching_sessions",
            [
                "id",
                "coach_id",
                "mentee_id",
                "starts_at",
                "duration_minutes",
                "status",
                "stripe_checkout_session_id",
                "price_amount",
                "currency",
                "platform_fee_amount",
                "coach_payout_amount",
                "payment_status",
                "stripe_payment_intent_id",
                "created_at",
                "updated_at",
            ],
            session_buffer,
        )
        copy_rows(
            conn,
            "transactions",
            [
                "id",
                "type",
                "status",
                "amount",
                "currency",
                "stripe_payment_intent_id",
                "stripe_transfer_id",
                "platform_fee",
                "coach_payout",
                "session_id",
                "payer_id",
                "coach_id",
                "created_at",
                "updated_at",
            ],
            txn_buffer,
        )
        copy_rows(
            conn,
            "ledger_entries",
            [
                "id",
                "coach_id",
                "kind",
                "currency",
                "total_delta",
                "pending_delta",
                "available_delta",
                "transaction_id",
                "created_at",
            ],
            entry_buffer,
        )

        # Every payment has been released (one entry each, as Stripe reports each payment
        # available); payouts take a part of it back out.
        available = dict(totals)
        entry_id = transactions  # payment entries take the ids 1..transactions
        payout_rows, payout_entries, release_entries = [], [], []
        for _, coach, _, currency, share, _, _, transaction_id, created in entry_buffer:
            entry_id += 1
            release_entries.append(
                (
                    entry_id,
                    coach,
                    "funds_available",
                    currency,
                    Decimal("0.00"),
                    -share,
                    share,
                    transaction_id,
                    created,
                )
            )
        for p in range(1, payouts + 1):
            coach = 1 + (p % coaches)
            amount = min(Decimal("50.00"), available[coach])
            if amount <= 0:
                continue
            available[coach] -= amount
            created = START + timedelta(seconds=span * p / payouts)
            status = "paid" if p % 25 else "in_transit"
            payout_rows.append(
                (
                    p,
                    f"po_bench_{p}",
                    amount,
                    "USD",
                    status,
                    coach,
                    coach,
                    created + timedelta(days=2),
                    created,
                    created,
                )
            )
            entry_id += 1
            payout_entries.append(
                (
                    entry_id,
                    coach,
                    "payout",
                    "USD",
                    Decimal("0.00"),
                    Decimal("0.00"),
                    -amount,
                    p,
                    created,
                )
            )
        copy_rows(
            conn,
            "ledger_entries",
            [
                "id",
                "coach_id",
                "kind",
                "currency",
                "total_delta",
                "pending_delta",
                "available_delta",
                "transaction_id",
                "created_at",
            ],
            release_entries,
        )
        copy_rows(
            conn,
            "payouts",
            [
                "id",
                "stripe_payout_id",
                "amount",
                "currency",
                "status",
                "user_id",
                "connected_account_id",
                "arrival_date",
                "created_at",
                "updated_at",
            ],
            payout_rows,
        )
        copy_rows(
            conn,
            "ledger_entries",
            [
                "id",
                "coach_id",
                "kind",
                "currency",
                "total_delta",
                "pending_delta",
                "available_delta",
                "payout_id",
                "created_at",
            ],
            payout_entries,
        )
        copy_rows(
            conn,
            "coach_profiles",
            [
                "id",
                "user_id",
                "headline",
                "bio",
                "session_price",
                "currency",
                "session_minutes",
                "is_published",
                "payout_schedule",
                "platform_fee_percentage",
                "minimum_payout",
                "total_earnings",
                "available_balance",
                "pending_balance",
                "created_at",
                "updated_at",
            ],
            (
                (
                    i,
                    i,
                    f"Coach {i} helps you grow",
                    "Bench bio.",
                    prices[i],
                    "USD",
                    60,
                    True,
                    "instant",
                    Decimal("20.00"),
                    Decimal("100.00"),
                    totals[i],
                    available[i],
                    Decimal("0.00"),
                    START,
                    now,
                )
                for i in range(1, coaches + 1)
            ),
        )
        copy_rows(
            conn,
            "availability_slots",
            ["coach_id", "starts_at", "duration_minutes", "created_at", "updated_at"],
            (
                (i, now + timedelta(days=d, hours=9), 60, now, now)
                for i in range(1, coaches + 1)
                for d in range(1, 6)
            ),
        )
        conn.execute(
            "UPDATE coach_profiles p SET ledger_entry_count = c.entries"
            " FROM (SELECT coach_id, count(*) AS entries FROM ledger_entries GROUP BY coach_id) c"
            " WHERE p.user_id = c.coach_id"
        )
        for table in (
            "users",
            "stripe_connected_accounts",
            "coach_profiles",
            "coaching_sessions",
            "transactions",
            "ledger_entries",
            "payouts",
        ):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        conn.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("--coaches", type=int, default=1_000)
    parser.add_argument("--mentees", type=int, default=20_000)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--payouts", type=int, default=50_000)
    parser.add_argument("--hot-coach-transactions", type=int, default=20_000)
    args = parser.parse_args()
    started = time.perf_counter()
    migrate(args.database_url)
    generate(
        args.database_url,
        args.coaches,
        args.mentees,
        args.transactions,
        args.payouts,
        args.hot_coach_transactions,
    )
    print(f"Generated in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
