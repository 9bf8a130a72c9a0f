"""Fixtures for getting paid: Connect faked at the gateway, or the offline Stripe for journeys.

- `stripe_fake` (`tests.stripe_fake`) stands in for Stripe at the gateway seam.
- `live` builds on `tests.live` (`live_portal`, `live_sandbox`): the served portal receives the
  sandbox's signed webhooks at its real endpoints, and the test's own app (test client, CLI)
  talks to the same sandbox and database. `onboard_in_browser` walks Stripe's hosted onboarding
  the way a person would.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
import stripe
from flask import Flask
from flask.testing import FlaskClient

from portal import ledger
from portal.extensions import db
from portal.models import (
    Booking,
    CoachProfile,
    PaymentStatus,
    Role,
    SessionStatus,
    Transaction,
    TransactionStatus,
    TransactionType,
    User,
)
from portal.money import split_fee
from portal.stripe_gateway import connect as connect_gateway
from tests.builders import make_user
from tests.conftest import PASSWORD, csrf_token, is_postgres, login
from tests.live import LivePortal, LiveSandbox, live_portal, live_sandbox
from tests.stripe_fake import FakeStripe
from tests.webhooks.payloads import balance, event
from tests.webhooks.signing import (
    CONNECT_PATH,
    PLATFORM_PATH,
    connect_secret,
    platform_secret,
    signed_post,
)

_payments = itertools.count(1)


# --- races: real threads on real connections -------------------------------------------

WAIT = 20  # seconds: no step of a race may hang longer


def in_thread(app: Flask, post: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Start `post` (a request through its own test client and connection) in a thread."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["response"] = post()
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def waits_for_a_lock(app: Flask, thread: threading.Thread) -> bool:
    """Whether `thread`'s request is blocked on a lock: PostgreSQL shows its backend waiting.
    On SQLite it waits for the database's write lock: it is still not done a second later."""
    if not is_postgres(app):
        thread.join(timeout=1)
        return thread.is_alive()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and thread.is_alive():
        with db.engine.connect() as conn:
            if conn.scalar(_WAITING):
                return True
        time.sleep(0.05)
    return False


_WAITING = sa.text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


def deliver_during_release(
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    delivered: dict[str, Any],
    *,
    created: int | None = None,
) -> None:
    """Deliver `balance.available` for `account` (made at `created`); while the release holds
    the coach's lock (its first question to Stripe is held, after it read the held payments),
    deliver the platform's event `delivered` in another thread, which must then wait for a lock
    (on SQLite, the write lock); then let the release go on. Both must be applied (200)."""
    asked, answer = threading.Event(), threading.Event()
    stripe_answers = connect_gateway.released_transfers

    def released_transfers(*args: Any) -> set[str]:
        if not asked.is_set():
            asked.set()
            answer.wait(timeout=WAIT)
        return stripe_answers(*args)

    monkeypatch.setattr(connect_gateway, "released_transfers", released_transfers)
    release = event("balance.available", balance(8000), account=account, created=created)
    connect, platform = connect_secret(app.test_client()), platform_secret(app.test_client())
    releasing, released = in_thread(
        app, lambda: signed_post(app.test_client(), CONNECT_PATH, release, connect)
    )
    acting, acted = (
        in_thread(app, lambda: signed_post(app.test_client(), PLATFORM_PATH, delivered, platform))
        if asked.wait(timeout=WAIT)
        else (None, {})
    )
    try:
        assert acting is not None, released
        assert waits_for_a_lock(app, acting), f"it did not wait for the release: {acted}"
    finally:
        answer.set()
        releasing.join(timeout=WAIT)
        if acting is not None:
            acting.join(timeout=WAIT)
    assert not releasing.is_alive() and acting is not None and not acting.is_alive()
    assert "error" not in released and "error" not in acted, (released, acted)
    assert released["response"].status_code == 200, released["response"].text
    assert acted["response"].status_code == 200, acted["response"].text


def recorded_but_awaiting(app: Flask, stripe_fake: FakeStripe, booking: Booking) -> None:
    """Record `booking`'s payment from its Checkout's event (which names the charge by id only:
    no transfer, no receipt), then set the booking's row back to awaiting its payment. No path
    of the portal's leaves it so, but fulfilment keeps a branch for it: the payment's next event
    is applied to the payment it finds recorded, and writes on its row the transfer and receipt
    that event names."""
    completed = event(
        "checkout.session.completed", stripe_fake.event_object(booking.stripe_checkout_session_id)
    )
    response = signed_post(
        app.test_client(), PLATFORM_PATH, completed, platform_secret(app.test_client())
    )
    assert response.status_code == 200, response.text
    db.session.execute(
        sa.update(Booking)
        .where(Booking.id == booking.id)
        .values(status=SessionStatus.PENDING_PAYMENT, payment_status=PaymentStatus.PENDING)
    )
    db.session.commit()


# --- data -------------------------------------------------------------------------------------


def earn(
    coach: User,
    price: str,
    *,
    mentee: User | None = None,
    paid: tuple[str, str] | None = None,
) -> Transaction:
    """A paid session for `coach`, recorded as the payment webhook does (transaction + ledger);
    `paid` names its PaymentIntent and transfer at Stripe (`Live.destination_charge`)."""
    profile = coach.coach_profile
    # Named apart from the PaymentIntents `stripe_fake.pay` makes, which a test may record too.
    intent, transfer = paid or (f"pi_earned_{next(_payments):06d}", None)
    split = split_fee(Decimal(price), profile.platform_fee_percentage, profile.currency)
    payer = mentee or make_user(Role.MENTEE)
    txn = Transaction(
        type=TransactionType.SESSION_PAYMENT,
        status=TransactionStatus.COMPLETED,
        amount=split.price,
        currency=profile.currency,
        platform_fee=split.platform_fee,
        coach_share=split.coach_share,
        stripe_payment_intent_id=intent,
        stripe_transfer_id=transfer,
        payer_id=payer.id,
        coach_id=coach.id,
    )
    db.session.add(txn)
    db.session.flush()
    ledger.record_payment(txn)
    db.session.commit()
    return txn


def release(coach: User, *payments: Transaction) -> None:
    """Stripe made these payments of the coach (all held ones when none are named) available,
    and the portal has heard: each share moves from pending to available."""
    wanted = {payment.id for payment in payments}
    for held in ledger.held_payments(coach.id):
        if not wanted or held.transaction_id in wanted:
            ledger.record_release(coach.id, held)
    db.session.commit()


def balances(coach: User) -> ledger.Balances:
    db.session.expire_all()
    return ledger.balances_of(coach.id)


def profile_of(coach: User) -> CoachProfile:
    db.session.expire_all()
    profile = db.session.get(User, coach.id).coach_profile
    assert profile is not None
    return profile


def signed_in(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    login(client, user)
    return client


# One coach's confirmation of "Pay out now", as the form carries it (one attempt).
ATTEMPT = "confirmation-0001-of-the-coach"


def post_form(client: FlaskClient, url: str, **data: Any) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client), **data})


# --- the offline Stripe, with the portal served for its webhooks ------------------------------


@dataclass
class Live:
    app: Flask
    portal: LivePortal
    sandbox: LiveSandbox
    stripe: stripe.StripeClient
    browser: requests.Session

    def control(self, path: str, **body: Any) -> dict[str, Any]:
        return self.sandbox.control(path, **body)

    def flush(self) -> None:
        """Wait until every webhook the sandbox queued has been delivered to the portal."""
        result = self.sandbox.flush()
        assert result["drained"], result
        db.session.expire_all()

    def advance(self, seconds: int) -> None:
        self.sandbox.advance(seconds)
        self.flush()

    def deliveries_failed(self) -> list[dict[str, Any]]:
        found = requests.get(self.sandbox.url + "/_sandbox/deliveries", timeout=10).json()
        return [d for d in found["deliveries"] if d.get("status") != 200]

    def destination_charge(self, account_id: str, amount: int, fee: int) -> tuple[str, str]:
        """A mentee's payment at Stripe whose share is transferred to the coach's account; its
        PaymentIntent and transfer, for `earn(..., paid=...)`."""
        intent = self.stripe.v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "application_fee_amount": fee,
                "transfer_data": {"destination": account_id},
                "expand": ["latest_charge"],
            }
        )
        return intent.id, intent.latest_charge.transfer


@pytest.fixture
def live(app: Flask, live_portal: LivePortal, live_sandbox: LiveSandbox) -> Iterator[Live]:
    """The shared live portal receives the sandbox's webhooks; the test's own app (its test
    client, its CLI) talks to the same sandbox and the same database."""
    app.config.update(
        STRIPE_API_BASE=live_sandbox.url,
        STRIPE_SECRET_KEY="sk_test_live",
        STRIPE_MAX_NETWORK_RETRIES=0,
    )
    app.extensions.pop("stripe_client", None)
    browser = live_portal.browser()
    try:
        yield Live(app, live_portal, live_sandbox, live_sandbox.client(), browser)
    finally:
        live_sandbox.control("webhooks/pause")
        browser.close()


def start_onboarding(client: FlaskClient, country: str = "US") -> str:
    """Press "Get paid" in the portal; returns the Stripe onboarding URL it redirects to."""
    response = post_form(client, "/coach/earnings/get-paid", country=country)
    assert response.status_code == 303, response.text
    return response.headers["Location"]


def onboard_in_browser(
    live: Live, link: str, *, account_number: str = "000123456789", finish: bool = True
) -> str:
    """Fill Stripe's hosted onboarding; returns the portal path Stripe sends the coach back to."""
    browser = live.browser
    start = browser.get(link, allow_redirects=False, timeout=10)
    assert start.status_code == 303, start.text
    base = live.sandbox.url
    step = start
    if step.headers["Location"].endswith("/personal"):
        step = browser.post(
            base + step.headers["Location"],
            data={
                "first_name": "Grace",
                "last_name": "Hopper",
                "dob": "1980-01-02",
                "tos": "1",
                **({} if finish else {"later": "1"}),
            },
            allow_redirects=False,
            timeout=10,
        )
        assert step.status_code == 303, step.text
    if step.headers["Location"].endswith("/bank"):
        step = browser.post(
            base + step.headers["Location"],
            data={"routing_number": "110000000", "account_number": account_number}
            if finish
            else {"later": "1"},
            allow_redirects=False,
            timeout=10,
        )
        assert step.status_code == 303, step.text
    return path_of(step.headers["Location"])


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def coach_client(app: Flask, coach: User) -> FlaskClient:
    return signed_in(app, coach)


__all__ = ["PASSWORD", "live_portal", "live_sandbox"]
