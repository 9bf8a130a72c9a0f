"""Billing journeys run against the live portal and the offline Stripe sandbox (tests.live)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests

from portal.extensions import db
from portal.models import PaymentMethod, Role, Subscription, User
from tests.builders import make_slot, make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox, live_portal, live_sandbox, onboard_coach

__all__ = ["live_portal", "live_sandbox"]

_attempts = itertools.count(1)
GOOD = "4242 4242 4242 4242"
DECLINES_WHEN_CHARGED = "4000 0000 0000 0341"
NEEDS_AUTHENTICATION = "4000 0025 0000 3155"
ALWAYS_DECLINES = "4000 0000 0000 0002"


def attempt() -> str:
    return f"test-attempt-{next(_attempts):06d}"


def signed_in_mentee(live_portal: LivePortal, email: str | None = None):  # type: ignore[no-untyped-def]
    mentee = make_user(Role.MENTEE, email, password=PASSWORD)
    browser = live_portal.browser()
    live_portal.login(browser, mentee)
    return mentee, browser


def fill_hosted_page(browser: requests.Session, url: str, number: str) -> requests.Response:
    return browser.post(
        url,
        data={"number": number, "expiry": "12/34", "cvc": "123", "name": "Ada Lovelace"},
        allow_redirects=False,
        timeout=20,
    )


def open_card_setup(live_portal: LivePortal, browser: requests.Session) -> str:
    response = live_portal.post(browser, "/billing/cards/add", "/billing/cards", attempt=attempt())
    assert response.status_code == 303, response.text
    return response.headers["Location"]


def save_card(
    live_portal: LivePortal, browser: requests.Session, number: str = GOOD, *, come_back=True
) -> requests.Response:
    """Add a card through setup-mode Checkout; returns the cards page the mentee lands on."""
    hosted = fill_hosted_page(browser, open_card_setup(live_portal, browser), number)
    assert hosted.status_code == 303, hosted.text
    assert hosted.headers["Location"].startswith(live_portal.url + "/billing/cards/saved?")
    if not come_back:
        return hosted
    return browser.get(hosted.headers["Location"], timeout=20)


def subscribe(
    live_portal: LivePortal,
    browser: requests.Session,
    number: str = GOOD,
    interval: str = "month",
    *,
    come_back: bool = True,
) -> requests.Response:
    response = live_portal.post(
        browser,
        "/billing/membership/subscribe",
        "/billing/membership",
        attempt=attempt(),
        interval=interval,
    )
    assert response.status_code == 303, response.text
    hosted = fill_hosted_page(browser, response.headers["Location"], number)
    assert hosted.status_code == 303, hosted.text
    if not come_back:
        return hosted
    return browser.get(hosted.headers["Location"], timeout=20)


def cards_of(user: User) -> list[PaymentMethod]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            db.select(PaymentMethod)
            .where(PaymentMethod.user_id == user.id)
            .order_by(PaymentMethod.id)
        )
    )


def subscription_of(user: User) -> Subscription | None:
    db.session.expire_all()
    return db.session.scalar(db.select(Subscription).where(Subscription.user_id == user.id))


def bookable_coach(live_sandbox: LiveSandbox, price: str = "100.00"):  # type: ignore[no-untyped-def]
    coach = make_user(
        Role.COACH, password=PASSWORD, name="Grace Hopper", session_price=Decimal(price)
    )
    onboard_coach(live_sandbox, coach)
    return coach, make_slot(coach, hours_from_now=72)


@pytest.fixture
def settled(live_portal: LivePortal, live_sandbox: LiveSandbox) -> Iterator[None]:
    """Deliver what the sandbox still holds before the tables are emptied, so no webhook is in
    flight in the live portal while the test's database is torn down."""
    yield
    live_sandbox.flush()
