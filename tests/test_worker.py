"""Real consumers (`flask jobs worker` processes) do the portal's work with no command typed.

On the embedded queue (SQLite): a hold left unpaid is released and its slot can be booked
again, and a coach on a daily schedule with enough available balance is paid. On the shared
queue (a throwaway `redis-server`), two consumers run a nightly job once and pay the coach
once. Stripe is the offline stand-in, the same one the served portal talks to.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import redis
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.bookings.hold import hold_slot, open_slots_page, start_checkout
from portal.config import PROJECT_ROOT
from portal.extensions import db
from portal.models import (
    AvailabilitySlot,
    Booking,
    JobRun,
    Payout,
    SessionStatus,
    User,
)
from tests.builders import make_slot
from tests.live import live_portal, live_sandbox  # noqa: F401
from tests.payouts.conftest import (
    Live,
    balances,
    earn,
    onboard_in_browser,
    post_form,
    signed_in,
    start_onboarding,
)
from tests.payouts.conftest import live as live  # the fixture

WAIT_SECONDS = 90
RETURN_URL = "http://127.0.0.1/bookings/return?session_id={CHECKOUT_SESSION_ID}"


@contextmanager
def worker(app: Flask, live: Live, tmp_path: Path, **settings: str) -> Iterator[list[str]]:
    """A `flask jobs worker` process on the test's database and the stand-in; yields its output
    lines (read when it stops) and stops it as Ctrl-C would."""
    env = {
        **os.environ,
        "FLASK_APP": "wsgi",
        "PORTAL_ENV": "development",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "TASKS_SQLITE_FILE": str(tmp_path / "tasks.db"),
        "STRIPE_SECRET_KEY": "sk_test_live",
        "STRIPE_API_BASE": live.sandbox.url,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "PLATFORM_TIMEZONE": "UTC",
        "JOB_PAYOUTS_AT": "00:00",  # due from midnight, so at once
        "JOB_RETRY_DELAY": "1",
        **settings,
    }
    log = tmp_path / f"worker-{time.monotonic_ns()}.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "flask", "jobs", "worker", "--workers", "2"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    lines: list[str] = []
    try:
        yield lines
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        lines.extend(log.read_text().splitlines())


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        db.session.expire_all()
        if condition():
            db.session.rollback()
            return
        db.session.rollback()
        time.sleep(0.5)
    raise AssertionError(f"Waited {WAIT_SECONDS} s for {what}.")


def _payable_coach(live: Live, coach: User, coach_client: FlaskClient) -> None:
    """A coach onboarded at the stand-in, on a daily schedule, with 80.00 available."""
    coach_client.get(onboard_in_browser(live, start_onboarding(coach_client)))
    account_id = db.session.get(User, coach.id).stripe_connect_account_id
    earn(coach, "100.00", paid=live.destination_charge(account_id, 10000, 2000))
    post_form(
        coach_client, "/coach/earnings/settings", payout_schedule="daily", minimum_payout="50"
    )
    live.advance(2 * 86400 + 1)  # balance.available reaches the portal
    assert balances(coach).available == Decimal("80.00")


def _hold_left_unpaid(live: Live, mentee: User, slot: AvailabilitySlot) -> Booking:
    """A booking held with its Checkout open at the stand-in, which the mentee left long ago.

    The stand-in's clock is days ahead (the coach's funds became available), so the Checkout is
    made at its time, and the hold is then dated back past the Checkout's lifetime.
    """
    clock = requests.get(f"{live.sandbox.url}/_sandbox/clock", timeout=10).json()
    stand_in_now = datetime.fromtimestamp(clock["now"], UTC)
    hold = hold_slot(db.session.get(User, mentee.id), slot.id)
    hold.created_at = stand_in_now
    start_checkout(hold, success_url=RETURN_URL, cancel_url=RETURN_URL)
    hold.created_at = datetime.now(UTC) - timedelta(minutes=40)
    db.session.commit()
    assert hold.stripe_checkout_session_id is not None
    return hold


def _payouts_of(coach: User) -> list[Payout]:
    return list(db.session.scalars(sa.select(Payout).where(Payout.user_id == coach.id)))


def _stripe_payouts(live: Live, coach: User) -> int:
    account_id = db.session.get(User, coach.id).stripe_connect_account_id
    listing = live.stripe.v1.payouts.list(options={"stripe_account": account_id})
    return len(listing.data)


def test_a_worker_releases_an_unpaid_hold_and_pays_a_daily_coach_with_no_command_typed(
    live: Live, app: Flask, coach: User, mentee: User, tmp_path: Path
) -> None:
    coach_client = signed_in(app, coach)
    _payable_coach(live, coach, coach_client)
    slot = make_slot(coach, hours_from_now=72)
    hold = _hold_left_unpaid(live, mentee, slot)

    with worker(app, live, tmp_path) as output:
        wait_for(
            lambda: db.session.get(Booking, hold.id).status is SessionStatus.CANCELED,
            "the hold to be released",
        )
        wait_for(lambda: _payouts_of(coach), "the scheduled payout")
    assert any("Consuming the portal's tasks" in line for line in output), output

    [payout] = _payouts_of(coach)
    assert payout.amount == Decimal("80.00") and _stripe_payouts(live, coach) == 1
    session = live.stripe.v1.checkout.sessions.retrieve(hold.stripe_checkout_session_id)
    assert session.status == "expired"
    assert [s.id for s in open_slots_page(coach.id).rows] == [slot.id]  # offered again
    again = hold_slot(db.session.get(User, mentee.id), slot.id)  # and held again
    db.session.commit()
    assert again.id != hold.id and again.status is SessionStatus.PENDING_PAYMENT


# --- shared on Redis --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A throwaway redis-server on a free loopback port, stopped afterwards."""
    server = shutil.which("redis-server")
    if server is None:
        message = "redis-server is not installed (scripts/setup.sh --dev installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; under CI the shared queue must be tested.")
        pytest.skip(message + "; the shared queue's test did not run.")
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - a fixed binary and our own arguments
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_two_workers_on_redis_run_a_nightly_job_once_and_pay_once(
    live: Live, app: Flask, coach: User, tmp_path: Path, redis_url: str
) -> None:
    coach_client = signed_in(app, coach)
    _payable_coach(live, coach, coach_client)
    today = datetime.now(UTC).date().isoformat()
    nightly = sa.select(JobRun).where(JobRun.job == "ledger-verify", JobRun.period == today)
    shared = {"REDIS_URL": redis_url, "JOB_LEDGER_VERIFY_AT": "00:00"}

    with (
        worker(app, live, tmp_path, **shared) as first,
        worker(app, live, tmp_path, **shared) as second,
    ):
        wait_for(lambda: _payouts_of(coach), "the scheduled payout")
        wait_for(
            lambda: (run := db.session.scalar(nightly)) and run.status == "succeeded",
            "the nightly ledger check",
        )
        time.sleep(3)  # time for a second run or payout, were there to be one
    assert all(any("from Redis" in line for line in out) for out in (first, second))

    [run] = db.session.scalars(nightly).all()
    assert run.attempts == 1
    [payout] = _payouts_of(coach)
    assert payout.amount == Decimal("80.00") and _stripe_payouts(live, coach) == 1
