"""Measure the portal on PostgreSQL under gunicorn: throughput and latency of its main pages and
of webhook ingest, in one run. Writes JSON and prints a short table.

    .venv/bin/python benchmarks/generate_data.py postgresql:///portal_bench   # once
    .venv/bin/python benchmarks/run.py postgresql:///portal_bench

Needs `wrk` (Debian: apt-get install wrk). Every request goes to 127.0.0.1 only. The budgets
(from the performance issue) are checked and reported; the script exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyotp
import requests
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the reference's portal import
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import reference_ingest  # noqa: E402
from common import ROOT, USER_AGENT, free_port, portal_environment, start_gunicorn, stop  # noqa: E402

PASSWORD = "bench-password-1"  # noqa: S105 - the generated data's password
ADMIN_EMAIL = "admin@bench.example"
COACH_EMAIL = "coach1@bench.example"
ADMIN_TOTP_SECRET = pyotp.random_base32()  # this run's; sealed into the database at start
WEBHOOK_SECRET = "whsec_benchmark"  # noqa: S105


def start_portal(database_url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    key = Fernet.generate_key()
    env = portal_environment(
        database_url,
        {
            "STRIPE_SECRET_KEY": "sk_test_benchmark",
            "STRIPE_API_BASE": "http://127.0.0.1:9",  # never called by the measured routes
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_benchmark_connect",
            "TWO_FACTOR_KEYS": key.decode(),
        },
    )
    enrol_admin(database_url, key)
    return start_gunicorn(env, port, workers)


def enrol_admin(database_url: str, key: bytes) -> None:
    """Admins sign in with a second factor: give the generated admin this run's key, sealed as
    the portal seals it (`portal/sealed.py`) under the run's `TWO_FACTOR_KEYS`."""
    sealed = Fernet(key).encrypt(ADMIN_TOTP_SECRET.encode()).decode()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE users SET totp_secret = %s, totp_last_step = NULL WHERE email = %s",
            (sealed, ADMIN_EMAIL),
        )


def login(base: str, email: str) -> str:
    secret = ADMIN_TOTP_SECRET if email == ADMIN_EMAIL else None
    return common.login(base, email, PASSWORD, totp_secret=secret)


def follow_next(base: str, cookie: str, path: str, pages: int) -> str:
    """The URL of page `pages` of a keyset-paged list, reached by following its "next" links."""
    url = path
    for _ in range(pages - 1):
        headers = {"Cookie": cookie, "User-Agent": USER_AGENT}
        html = requests.get(base + url, headers=headers, timeout=30).text
        match = re.search(r'<a[^>]*rel="next"[^>]*href="([^"]+)"', html) or re.search(
            r'<a[^>]*href="([^"]+)"[^>]*rel="next"', html
        )
        if not match:
            raise SystemExit(f"No next link after {url}")
        url = match.group(1).replace("&amp;", "&")
    return url


def wrk(
    url: str,
    *,
    cookie: str | None,
    seconds: int,
    connections: int,
    threads: int,
    script: Path,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
    ]
    command += ["-H", f"User-Agent: {USER_AGENT}"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    result = subprocess.run(  # noqa: S603
        [*command, url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _check_answers_200(url: str, cookie: str | None) -> None:
    """A page measured must be the page itself, not a redirect to sign in."""
    headers = {"User-Agent": USER_AGENT, **({"Cookie": cookie} if cookie else {})}
    response = requests.get(url, headers=headers, allow_redirects=False, timeout=30)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}, not 200: nothing to measure")


def prepare_webhook_events(database_url: str, count: int, path: Path) -> str:
    """Pending bookings, and one signed `payment_intent.succeeded` per booking, in a file.

    Returns the prefix of the events' ids.
    """
    now = datetime.now(UTC)
    with psycopg.connect(database_url) as conn:
        first_id = conn.execute(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM coaching_sessions"
        ).fetchone()[0]
        coaches = [
            r[0]
            for r in conn.execute("SELECT user_id FROM coach_profiles ORDER BY user_id LIMIT 200")
        ]
        mentee = conn.execute("SELECT id FROM users WHERE role = 'mentee' LIMIT 1").fetchone()[0]
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY coaching_sessions (id, coach_id, mentee_id, starts_at, duration_minutes, "
                "status, price_amount, currency, platform_fee_amount, coach_payout_amount, "
                "payment_status, created_at, updated_at) FROM STDIN"
            ) as copy,
        ):
            for n in range(count):
                copy.write_row(
                    (
                        first_id + n,
                        coaches[n % len(coaches)],
                        mentee,
                        now + timedelta(days=30),
                        60,
                        "pending_payment",
                        "100.00",
                        "USD",
                        "20.00",
                        "80.00",
                        "pending",
                        now,
                        now,
                    )
                )
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('coaching_sessions', 'id'), "
            "(SELECT MAX(id) FROM coaching_sessions))"
        )
    timestamp = int(time.time())
    with path.open("w") as out:
        for n in range(count):
            booking_id = first_id + n
            body, signature = common.signed_payment_succeeded(
                f"evt_bench_{timestamp}_{n}",
                f"pi_bench_{timestamp}_{n}",
                booking_id,
                WEBHOOK_SECRET,
                timestamp,
            )
            out.write(f"{signature}\t{body.decode()}\n")
    return f"evt_bench_{timestamp}_"


def count_processed(database_url: str, prefix: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        events = conn.execute(
            "SELECT count(*) FROM stripe_events"
            " WHERE stripe_event_id LIKE %s AND status = 'processed'",
            (prefix + "%",),
        ).fetchone()[0]
        transactions = conn.execute(
            "SELECT count(*) FROM transactions WHERE stripe_payment_intent_id LIKE %s",
            (prefix.replace("evt_", "pi_") + "%",),
        ).fetchone()[0]
    return events, transactions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) * 2 + 1)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--webhook-events", type=int, default=20_000)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="WORD",
        help="measure only the endpoints whose names contain one of these words"
        " (e.g. bare dashboard webhook), and check only their budgets",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk).")

    def wanted(name: str) -> bool:
        return not args.only or any(word in name for word in args.only)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_portal(args.database_url, port, args.workers)
    results: dict[str, Any] = {
        "workers": args.workers,
        "seconds": args.seconds,
        "connections": args.connections,
        "endpoints": {},
    }
    cookies: dict[str, str] = {}

    def cookie_of(email: str | None) -> str | None:
        """The signed-in cookie of `email` (signing in the first time it is asked for)."""
        if email is not None and email not in cookies:
            cookies[email] = login(base, email)
        return cookies.get(email) if email else None

    try:
        report = ROOT / "benchmarks" / "wrk_report.lua"
        admin_list = "/admin/transactions?status=completed"
        endpoints = {
            "bare route (/healthz)": ("/healthz", None),
            "coaches directory": ("/", None),
            "coach page": ("/coaches/2", None),
            "coach dashboard (20,000 payments)": ("/coach/earnings", COACH_EMAIL),
            # any signed-in page pays for the session, the user's query and the page frame
            "signed-in reference (coach's account page)": ("/account/profile", COACH_EMAIL),
            "admin transactions page 1 (filtered)": (admin_list, ADMIN_EMAIL),
            "admin transactions page 1,000 (filtered)": (None, ADMIN_EMAIL),  # by its links
        }
        for name, (path, email) in endpoints.items():
            if not wanted(name):
                continue
            cookie = cookie_of(email)
            if path is None:
                path = follow_next(base, cookie, admin_list, 1000)
            _check_answers_200(base + path, cookie)
            # Unrecorded: every worker renders the page once and keeps what it may, as on a
            # server that has been up a while; the first visit's cost is not the steady rate.
            wrk(
                base + path,
                cookie=cookie,
                seconds=WARM_UP_SECONDS,
                connections=args.connections,
                threads=2,
                script=report,
            )
            results["endpoints"][name] = wrk(
                base + path,
                cookie=cookie,
                seconds=args.seconds,
                connections=args.connections,
                threads=2,
                script=report,
            )
            print(f"{name}: {results['endpoints'][name]}", flush=True)

        if wanted(INGEST) or wanted(REFERENCE):
            results.update(measure_ingest_and_reference(base, server.pid, args))
        export_name = "CSV export of every transaction"
        if wanted(export_name):
            results[export_name] = measure_export(base, cookie_of(ADMIN_EMAIL), server.pid)
            print(f"{export_name}: {results[export_name]}", flush=True)
    finally:
        stop(server)

    results["budgets"] = check_budgets(results)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    if not all(b["met"] for b in results["budgets"]):
        sys.exit(1)


def measure_export(base: str, cookie: str, master_pid: int) -> dict[str, Any]:
    """Download the admin's CSV of all transactions; rows, seconds and the workers' memory.

    Every worker's resident memory is sampled every 50 ms while the rows stream; the peak is
    the largest any worker reached, the growth its rise over what it held before.
    """
    workers = common.children(master_pid)
    before = {pid: _resident_mb(pid) for pid in workers}
    peak = dict(before)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            for pid in workers:
                peak[pid] = max(peak[pid], _resident_mb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    lines = 0
    with requests.get(
        f"{base}/admin/transactions/export.csv",
        headers={"Cookie": cookie, "User-Agent": USER_AGENT},
        stream=True,
        timeout=600,
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_content(chunk_size=1 << 16):
            lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    busiest = max(workers, key=lambda pid: peak[pid] - before[pid])
    return {
        "rows": lines - 1,  # less the header
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(max(peak.values()), 1),
        "growth_mb": round(peak[busiest] - before[busiest], 1),
    }


def _resident_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:  # the worker was recycled
        pass
    return 0.0


def measure_ingest_and_reference(
    base: str, master_pid: int, args: argparse.Namespace
) -> dict[str, Any]:
    """The portal's ingest, then the yardstick's, of the same signed events from the same
    senders, and the portal's share of the yardstick's rate. The events are signed once, before
    the portal's turn: the yardstick's must come within the signature's 300 s tolerance.

    Each also gives the CPU an event cost its gunicorn workers and the PostgreSQL server
    (`common.CpuMeter`): where the yardstick's rate is out of reach, these say which side
    holds the portal back."""
    with tempfile.TemporaryDirectory() as folder:
        events = Path(folder) / "events.tsv"
        prefix = prepare_webhook_events(args.database_url, args.webhook_events, events)
        ingest = measure_ingest(base, master_pid, events, prefix, args)
        print(f"{INGEST}: {ingest}", flush=True)
        reference = measure_reference(events, args)
        print(f"{REFERENCE}: {reference}", flush=True)
    for name, sent, done in (
        (INGEST, ingest["requests"], ingest["events_processed"]),
        (REFERENCE, reference["requests"], reference["events_recorded"]),
    ):
        if sent > done + SENDERS:  # the senders asked for the health check once out of events
            print(f"{name} ran out of events: its rate is a floor (raise --webhook-events)")
    share = ingest["events_per_second"] / reference["events_per_second"]
    ingest["share_of_reference"] = round(share, 3)
    return {INGEST: ingest, REFERENCE: reference}


def measure_ingest(
    base: str, master_pid: int, events: Path, prefix: str, args: argparse.Namespace
) -> dict[str, Any]:
    """The portal's ingest of the signed `payment_intent.succeeded` events in `events` from 4
    senders; events/s actually processed."""
    meter = common.CpuMeter(master_pid)
    meter.start()
    started = time.perf_counter()
    ingest = send_events(base, events, args)
    elapsed = time.perf_counter() - started
    cpu = meter.stop()
    processed, transactions = count_processed(args.database_url, prefix)
    ingest.update(
        events_processed=processed,
        transactions_created=transactions,
        events_per_second=round(processed / elapsed, 1),
        **cpu_per_event(cpu, processed),
    )
    return ingest


def measure_reference(events: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The yardstick (`reference_ingest.py`) under the portal's gunicorn settings and as many
    workers, sent the same events by the same senders; events/s it recorded."""
    reference_ingest.create_tables(args.database_url)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    server = common.serve_wsgi(
        "benchmarks.reference_ingest:app",
        ROOT / "benchmarks" / "reference_gunicorn.conf.py",
        env,
        port,
        args.workers,
    )
    meter = common.CpuMeter(server.pid)
    try:
        meter.start()
        started = time.perf_counter()
        reference = send_events(f"http://127.0.0.1:{port}", events, args)
        elapsed = time.perf_counter() - started
        cpu = meter.stop()
        recorded, counter = reference_ingest.counted(args.database_url)
    finally:
        stop(server)
        reference_ingest.drop_tables(args.database_url)
    if not recorded or counter != recorded:
        raise SystemExit(
            f"The reference recorded {recorded} events and counted {counter}"
            f" ({reference['non_2xx']} answers not 2xx): nothing to compare with."
        )
    reference.update(
        events_recorded=recorded,
        events_per_second=round(recorded / elapsed, 1),
        **cpu_per_event(cpu, recorded),
    )
    return reference


def cpu_per_event(cpu: dict[str, float], events: int) -> dict[str, float]:
    """Milliseconds of CPU per event on each side of a `common.CpuMeter` (none without events)."""
    if not events:
        return {}
    return {f"{side}_cpu_ms_per_event": round(1000 * cpu[side] / events, 2) for side in cpu}


def send_events(base: str, events: Path, args: argparse.Namespace) -> dict[str, Any]:
    """wrk posting each event in `events` once from the senders to `base`'s webhook route."""
    return wrk(
        base + "/",
        cookie=None,
        seconds=args.seconds,
        connections=SENDERS,
        threads=SENDERS,
        script=ROOT / "benchmarks" / "wrk_webhooks.lua",
        env={"WEBHOOK_EVENTS": str(events), "WRK_THREADS": str(SENDERS)},
    )


# (page, the least share of the bare route's req/s, the greatest p95 in ms): the performance
# issue's goals, each checked in every run.
PAGE_GOALS = (
    ("coaches directory", 0.25, 20),
    ("coach page", 0.25, 20),
    ("coach dashboard (20,000 payments)", 0.25, 50),
    ("admin transactions page 1 (filtered)", 0.10, 40),
    ("admin transactions page 1,000 (filtered)", 0.10, 40),
)
INGEST_GOAL = 800  # signed events/s
INGEST = "webhook ingest (4 senders)"
SENDERS = 4
# The least a signed event costs on this machine (`reference_ingest.py`), beside the goal.
REFERENCE = "reference ingest (raw psycopg, 4 senders)"
WARM_UP_SECONDS = 2


def check_budgets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each budget whose endpoints were measured: what it asks, what was measured, met or not."""
    e = results["endpoints"]
    bare = e.get("bare route (/healthz)")
    page1 = e.get("admin transactions page 1 (filtered)")
    page1000 = e.get("admin transactions page 1,000 (filtered)")
    ingest = results.get(INGEST)
    reference = results.get(REFERENCE)
    export = results.get("CSV export of every transaction")
    budgets = []
    if export:
        budgets.append(
            {
                "budget": "CSV export of all rows with peak memory under 150 MB",
                "measured": f"{export['rows']:,} rows in {export['seconds']} s,"
                f" peak {export['peak_rss_mb']} MB (+{export['growth_mb']} MB)",
                "met": export["peak_rss_mb"] < 150,
            }
        )
    for name, share, p95 in PAGE_GOALS:
        page = e.get(name)
        if page and bare:
            budgets.append(
                {
                    "budget": f"{name} >= {share:.0%} of the bare route's req/s",
                    "measured": f"{page['rps'] / bare['rps']:.1%}",
                    "met": page["rps"] >= share * bare["rps"],
                }
            )
        if page:
            budgets.append(
                {
                    "budget": f"{name} p95 < {p95} ms",
                    "measured": f"{page['p95_ms']:.1f} ms",
                    "met": page["p95_ms"] < p95,
                }
            )
    if page1 and page1000:
        budgets.append(
            {
                "budget": "admin page 1,000 no slower than 1.5x page 1",
                "measured": f"{page1000['p50_ms'] / page1['p50_ms']:.2f}x (p50)",
                "met": page1000["p50_ms"] <= 1.5 * page1["p50_ms"],
            }
        )
    if ingest:
        budgets.append(
            {
                "budget": f"webhook ingest >= {INGEST_GOAL} events/s",
                "measured": f"{ingest['events_per_second']:.0f}/s"
                + (
                    f" ({ingest['share_of_reference']:.1%} of the reference's"
                    f" {reference['events_per_second']:.0f}/s)"
                    if reference
                    else ""
                ),
                "met": ingest["events_per_second"] >= INGEST_GOAL,
            }
        )
    measured = [*e.values(), *(x for x in (ingest, reference) if x)]
    budgets.append(
        {
            "budget": "no errors",
            "measured": str(sum(x["errors"] for x in measured)),
            "met": all(x["errors"] == 0 for x in measured),
        }
    )
    return budgets


def print_table(results: dict[str, Any]) -> None:
    print(f"{'endpoint':44} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    rows = dict(results["endpoints"])
    for name in (INGEST, REFERENCE):
        if name in results:
            rows[name] = results[name]
    for name, r in rows.items():
        rps = r.get("events_per_second", r["rps"])
        print(f"{name:44} {rps:8.0f} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {r['p99_ms']:8.2f}")
    for name in (INGEST, REFERENCE):
        if "web_cpu_ms_per_event" in results.get(name, {}):
            r = results[name]
            print(
                f"{name}: CPU per event {r['web_cpu_ms_per_event']:.2f} ms in the web workers,"
                f" {r['database_cpu_ms_per_event']:.2f} ms in PostgreSQL"
            )
    print()
    for budget in results["budgets"]:
        print(f"[{'met' if budget['met'] else 'MISSED'}] {budget['budget']}: {budget['measured']}")


if __name__ == "__main__":
    main()
