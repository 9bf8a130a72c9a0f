"""Refunds, deactivating a user, reprocessing an event and changing payout settings ask for the
password (and the code, where enrolled) again once the last confirmation is ten minutes old;
nothing of the action happens before, and the person comes back to the page they were on."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal import ledger
from portal.accounts import twofactor
from portal.extensions import db
from portal.models import (
    CoachProfile,
    EventStatus,
    PayoutSchedule,
    Refund,
    Role,
    StripeEvent,
    Transaction,
    User,
)
from tests.admin.conftest import payment, post_form, signed_in
from tests.builders import make_connected_account, make_user
from tests.conftest import PASSWORD, csrf_token
from tests.stripe_fake import FakeStripe

Clock = Callable[[timedelta], datetime]


@pytest.fixture
def move_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Stop the portal's clock for codes and confirmations at the test's start; `move(by)` sets
    it `by` after that moment. A clock left running would add the test's own time (password
    hashing, on a loaded machine seconds of it) to each span it checks to the second."""
    start = datetime.now(twofactor.utcnow().tzinfo)
    monkeypatch.setattr(twofactor, "now", lambda: start)

    def move(by: timedelta) -> datetime:
        moved = start + by
        monkeypatch.setattr(twofactor, "now", lambda: moved)
        return moved

    return move


def _sent_to_confirm(response: Any) -> str:
    """Where the confirm page will return to (asserting that it was the answer)."""
    location = response.headers.get("HX-Redirect") or response.headers.get("Location", "")
    parts = urlsplit(location)
    assert parts.path == "/account/confirm", (response.status_code, location)
    return parse_qs(parts.query)["next"][0]


def _confirm(client: FlaskClient, back: str, user: User, at: datetime | None, **data: str) -> Any:
    page = client.get("/account/confirm", query_string={"next": back})
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    fields = {"password": PASSWORD, "csrf_token": token, **data}
    if at is not None:
        fields.setdefault("code", pyotp.TOTP(user.totp_secret).at(at))
    return client.post("/account/confirm", query_string={"next": back}, data=fields)


def _referer(path: str) -> dict[str, str]:
    return {"Referer": f"http://localhost{path}"}


@pytest.fixture
def paid(app: Flask, coach: User, mentee: User) -> Transaction:
    txn = payment(mentee, coach, "100.00", intent="pi_paid", stripe_transfer_id="tr_paid")
    ledger.record_payment(txn)
    db.session.commit()
    return txn


def _refund_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Refund))


def test_a_refund_confirmed_on_a_stale_page_waits_for_the_password_and_code(
    app: Flask, admin: User, paid: Transaction, stripe_fake: FakeStripe, move_clock: Clock
) -> None:
    client = signed_in(app, admin)
    review = post_form(client, f"/admin/transactions/{paid.id}/refund", amount="30.00", reason="x")
    fields = dict(
        re.findall(r'name="(amount|reason|token)" type="hidden" value="([^"]*)"', review.text)
    )
    assert set(fields) == {"amount", "reason", "token"}
    later = move_clock(timedelta(minutes=10, seconds=1))  # the admin left the page open

    confirm_url = f"/admin/transactions/{paid.id}/refund/confirm"
    page = f"/admin/transactions/{paid.id}"
    asked = client.post(
        confirm_url, data={"csrf_token": csrf_token(client), **fields}, headers=_referer(page)
    )
    assert _sent_to_confirm(asked) == page
    assert _refund_count() == 0
    assert not [name for name, _ in stripe_fake.calls if "refund" in name]

    wrong = _confirm(client, page, admin, later, code="000000")
    assert wrong.status_code == 400 and "That code is not right" in wrong.text
    no_code = _confirm(client, page, admin, None)
    assert no_code.status_code == 400
    confirmed = _confirm(client, page, admin, later)
    assert confirmed.status_code == 303 and confirmed.location == page

    done = client.post(confirm_url, data={"csrf_token": csrf_token(client), **fields})
    assert done.status_code == 303 and done.location == page
    [refund] = db.session.scalars(sa.select(Refund)).all()
    assert refund.amount == Decimal("30.00")


def test_the_refund_form_itself_asks_first_and_returns_to_it(
    app: Flask, admin: User, paid: Transaction, move_clock: Clock
) -> None:
    client = signed_in(app, admin)
    form = f"/admin/transactions/{paid.id}/refund"
    assert client.get(form).status_code == 200  # signing in was a confirmation
    later = move_clock(timedelta(minutes=11))
    asked = client.get(form)
    assert _sent_to_confirm(asked) == form
    assert _confirm(client, form, admin, later).location == form
    assert client.get(form).status_code == 200


def test_deactivating_a_user_waits_for_a_fresh_confirmation(
    app: Flask, admin: User, mentee: User, move_clock: Clock
) -> None:
    client = signed_in(app, admin)
    later = move_clock(timedelta(minutes=11))
    users_page = "/admin/users?q=mentee"
    asked = post_form(client, f"/admin/users/{mentee.id}/deactivate")
    assert _sent_to_confirm(asked) == "/"  # no page to return to was sent: the home page
    asked = client.post(
        f"/admin/users/{mentee.id}/deactivate",
        data={"csrf_token": csrf_token(client)},
        headers=_referer(users_page),
    )
    assert _sent_to_confirm(asked) == users_page
    db.session.expire_all()
    assert db.session.get(User, mentee.id).is_active

    assert _confirm(client, users_page, admin, later).location == users_page
    done = post_form(client, f"/admin/users/{mentee.id}/deactivate")
    assert done.status_code == 303
    db.session.expire_all()
    assert not db.session.get(User, mentee.id).is_active


def test_reprocessing_an_event_over_htmx_swaps_in_the_confirm_page_not_half_an_action(
    app: Flask, admin: User, coach: User, mentee: User, move_clock: Clock
) -> None:
    payment(mentee, coach, "50.00", intent="pi_disputed")
    dispute = {"id": "du_1", "object": "dispute", "payment_intent": "pi_disputed", "amount": 5000}
    dispute |= {"currency": "usd", "status": "needs_response", "reason": "fraudulent"}
    payload = {"id": "evt_1", "type": "charge.dispute.created", "created": 1_700_000_000}
    payload["data"] = {"object": dispute}
    db.session.add(
        StripeEvent(
            stripe_event_id="evt_1",
            type="charge.dispute.created",
            payload=payload,
            status=EventStatus.FAILED,
            error="OperationalError: database was locked",
            attempts=1,
            **StripeEvent.related_ids(payload),
        )
    )
    db.session.commit()
    client = signed_in(app, admin)
    later = move_clock(timedelta(minutes=30))
    event_page = "/admin/events/evt_1"
    htmx = {"HX-Request": "true", "HX-Current-URL": f"http://localhost{event_page}"}
    asked = client.post(
        "/admin/events/evt_1/reprocess", data={"csrf_token": csrf_token(client)}, headers=htmx
    )
    assert asked.status_code == 204 and asked.text == ""
    assert _sent_to_confirm(asked) == event_page

    def status() -> EventStatus:
        db.session.expire_all()
        return db.session.scalar(
            sa.select(StripeEvent.status).where(StripeEvent.stripe_event_id == "evt_1")
        )

    assert status() is EventStatus.FAILED

    assert _confirm(client, event_page, admin, later).location == event_page
    done = client.post(
        "/admin/events/evt_1/reprocess", data={"csrf_token": csrf_token(client)}, headers=htmx
    )
    assert done.headers["HX-Redirect"] == event_page
    assert status() is EventStatus.PROCESSED


def test_payout_settings_ask_a_coach_for_the_password_again(
    app: Flask, coach: User, stripe_fake: FakeStripe, move_clock: Clock
) -> None:
    make_connected_account(coach)
    client = signed_in(app, coach)
    move_clock(timedelta(minutes=11))
    settings = "/coach/earnings/settings"
    asked = post_form(client, settings, payout_schedule="weekly", minimum_payout="50")
    assert _sent_to_confirm(asked) == "/"

    def schedule() -> PayoutSchedule:
        db.session.expire_all()
        return db.session.scalar(
            sa.select(CoachProfile.payout_schedule).where(CoachProfile.user_id == coach.id)
        )

    assert schedule() is PayoutSchedule.INSTANT
    assert _sent_to_confirm(client.get(settings)) == settings
    wrong = _confirm(client, settings, coach, None, password="not my password")
    assert wrong.status_code == 400 and "That is not your password" in wrong.text
    # No two-factor sign-in on this coach's account: the password alone confirms.
    assert "Code" not in client.get("/account/confirm").text
    assert _confirm(client, settings, coach, None).location == settings
    post_form(client, settings, payout_schedule="weekly", minimum_payout="50")
    assert schedule() is PayoutSchedule.WEEKLY


def test_a_confirmation_lasts_ten_minutes_from_when_it_was_given(
    app: Flask, move_clock: Clock
) -> None:
    coach = make_user(Role.COACH, password=PASSWORD, two_factor=True)
    client = signed_in(app, coach)
    settings = "/coach/earnings/settings"
    assert client.get(settings).status_code == 200
    later = move_clock(timedelta(minutes=9, seconds=59))
    assert client.get(settings).status_code == 200
    later = move_clock(timedelta(minutes=10))
    assert _sent_to_confirm(client.get(settings)) == settings
    assert _confirm(client, settings, coach, None).status_code == 400  # enrolled: a code too
    assert _confirm(client, settings, coach, later).location == settings
    move_clock(timedelta(minutes=19, seconds=59))
    assert client.get(settings).status_code == 200
