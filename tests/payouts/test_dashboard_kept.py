"""The dashboard kept whole for its coach: answered without rendering while nothing it shows
has changed, made again when anything it shows changes, never shown to anyone else, and with
each answer's own script nonce and its session's own CSRF token."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import Flask, template_rendered
from werkzeug.test import TestResponse

from portal.extensions import db
from portal.models import PayoutSchedule, Role, User
from portal.payouts import services, views
from tests.builders import make_connected_account, make_user
from tests.conftest import PASSWORD
from tests.payouts.conftest import ATTEMPT, earn, profile_of, release, signed_in
from tests.stripe_fake import FakeStripe

DASHBOARD = "/coach/earnings"


@contextmanager
def rendered() -> Iterator[list[str]]:
    """The templates rendered inside the block."""
    names: list[str] = []
    with template_rendered.connected_to(lambda _app, template, **_: names.append(template.name)):
        yield names


def _without_nonce(page: str) -> str:
    return re.sub(r'nonce="[^"]+"', 'nonce=""', page)


def _nonce(response: TestResponse) -> str:
    """The nonce the answer's Content-Security-Policy names."""
    found = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    assert found
    return found.group(1)


def _csrf_tokens(page: str) -> set[str]:
    return set(re.findall(r'"X-CSRFToken": "([^"]+)"', page)) | set(
        re.findall(r'name="csrf_token" value="([^"]+)"', page)
    )


def test_an_unchanged_dashboard_is_answered_without_rendering_with_its_own_nonce(
    app: Flask, coach: User
) -> None:
    make_connected_account(coach)
    earn(coach, "100.00")
    client = signed_in(app, coach)
    first = client.get(DASHBOARD)
    with rendered() as templates:
        again = client.get(DASHBOARD)
    assert templates == []
    assert _without_nonce(again.text) == _without_nonce(first.text)
    assert _nonce(again) != _nonce(first)
    assert again.text.count(f'nonce="{_nonce(again)}"') == 2  # its own, in both script tags
    assert again.headers["Cache-Control"] == "private, no-store"
    assert "Cookie" in again.headers["Vary"] and "ETag" not in again.headers


def _balance(coach: User) -> None:
    earn(coach, "50.00")


def _payout_paid(coach: User) -> None:
    payout = services.pay_out_now(coach.id, confirmed_amount=Decimal("80.00"), attempt=ATTEMPT)
    db.session.commit()
    account = services.connected_account_for(coach.stripe_connect_account_id, lock=True)
    services.record_stripe_payout(
        account,
        {
            "id": payout.stripe_payout_id,
            "status": "paid",
            "amount": 8000,
            "currency": "usd",
            "arrival_date": 1_800_000_000,
        },
    )
    db.session.commit()


def _requirements(coach: User) -> None:
    account = db.session.get(User, coach.id).stripe_connected_account
    account.payouts_enabled = False
    account.requirements = {"currently_due": ["individual.id_number"]}
    db.session.commit()


def _schedule(coach: User) -> None:
    profile = profile_of(coach)
    profile.payout_schedule, profile.minimum_payout = PayoutSchedule.WEEKLY, Decimal("75.00")
    db.session.commit()


def _name(coach: User) -> None:
    db.session.get(User, coach.id).name = "Coach Renamed"
    db.session.commit()


def _time_zone(coach: User) -> None:
    db.session.get(User, coach.id).time_zone = "Pacific/Honolulu"
    db.session.commit()


# Each change, and what the page shows after it that it did not show before.
CHANGES: dict[str, tuple[Callable[[User], None], str]] = {
    "a balance": (_balance, 'data-amount="total">$120.00'),
    "a payout": (_payout_paid, ">Paid</span>"),
    "the account's requirements": (_requirements, "your government tax ID number"),
    "the payout schedule": (_schedule, "Weekly, minimum $75.00"),
    "the name in the frame": (_name, ">Coach Renamed</a>"),
    # Stripe's arrival moment, 08:00 UTC on 15 January, is the 14th in Honolulu.
    "the time zone": (_time_zone, "14 Jan 2027"),
}


@pytest.mark.parametrize("change", CHANGES, ids=str)
def test_a_kept_dashboard_shows_each_change_at_once(
    app: Flask, coach: User, stripe_fake: FakeStripe, change: str
) -> None:
    make_connected_account(coach)
    release(coach, earn(coach, "100.00"))  # 80.00 available
    if change == "the time zone":
        _payout_paid(coach)
    client = signed_in(app, coach)
    client.get(DASHBOARD)
    with rendered() as templates:
        before = client.get(DASHBOARD).text
    assert templates == []  # kept
    make, shown = CHANGES[change]
    assert shown not in before

    make(coach)

    assert shown in client.get(DASHBOARD).text


def test_the_period_and_the_day_make_their_own_pages(
    app: Flask, coach: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_connected_account(coach)
    earn(coach, "100.00")
    client = signed_in(app, coach)
    assert "Net earnings by week" in client.get(DASHBOARD).text
    assert "Net earnings by month" in client.get(f"{DASHBOARD}?by=month").text
    assert "Net earnings by week" in client.get(DASHBOARD).text

    next_year = views._today() + timedelta(days=366)
    monkeypatch.setattr(views, "_today", lambda: next_year)
    assert f"/coach/earnings/statement/{next_year.year}" in client.get(DASHBOARD).text


def test_a_flashed_message_shows_once_and_is_never_kept(app: Flask, coach: User) -> None:
    make_connected_account(coach)
    client = signed_in(app, coach)
    client.get(DASHBOARD)  # the page is kept
    with client.session_transaction() as session:
        session["_flashes"] = [("success", "Your payout settings are saved.")]
    assert "Your payout settings are saved." in client.get(DASHBOARD).text
    with rendered() as templates:
        after = client.get(DASHBOARD).text
    assert "Your payout settings are saved." not in after
    assert templates == []  # the page kept before the message, not the one that showed it


def test_an_htmx_request_gets_a_page_made_for_it(app: Flask, coach: User) -> None:
    make_connected_account(coach)
    client = signed_in(app, coach)
    client.get(DASHBOARD)
    with rendered() as templates:
        client.get(DASHBOARD, headers={"HX-Request": "true"})
    assert "payouts/dashboard.html" in templates


def test_two_coaches_never_get_each_others_page(app: Flask) -> None:
    carol = make_user(Role.COACH, "carol@example.com", password=PASSWORD)
    dan = make_user(Role.COACH, "dan@example.com", password=PASSWORD)
    for coach, price in ((carol, "123.45"), (dan, "67.89")):
        make_connected_account(coach)
        earn(coach, price)
    as_carol, as_dan = signed_in(app, carol), signed_in(app, dan)
    for _ in range(3):  # the first made, the others kept
        carols, dans = as_carol.get(DASHBOARD).text, as_dan.get(DASHBOARD).text
        assert "$98.76" in carols and "$54.31" not in carols
        assert "$54.31" in dans and "$98.76" not in dans
        assert f">{carol.name}</a>" in carols and f">{dan.name}</a>" not in carols
        assert f">{dan.name}</a>" in dans and f">{carol.name}</a>" not in dans


def test_each_session_gets_its_own_csrf_token_on_a_kept_page(app: Flask, coach: User) -> None:
    make_connected_account(coach)
    here, there = signed_in(app, coach), signed_in(app, coach)
    ours = _csrf_tokens(here.get(DASHBOARD).text)
    with rendered() as templates:
        theirs = _csrf_tokens(there.get(DASHBOARD).text)
    assert templates == []  # the same coach's page, kept
    assert len(ours) == 1 and len(theirs) == 1 and ours != theirs
    # The token each page shows is its own session's: signing out with it is accepted.
    (token,) = theirs
    response = there.post("/account/logout", data={"csrf_token": token})
    assert response.status_code == 303
