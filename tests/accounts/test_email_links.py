"""Links mailed to a person: confirming an address at sign-up, resetting a forgotten password.
Each works once; a reset link for one hour, and it ends every other session."""

from __future__ import annotations

import re
import time as real_time
from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.accounts import services
from portal.bookings.hold import hold_slot
from portal.errors import EmailNotVerified
from portal.extensions import db
from portal.models import Role, User
from portal.payouts.services import start_onboarding
from tests.builders import make_connected_account, make_slot, make_user
from tests.conftest import PASSWORD, csrf_token, login
from tests.mailbox import links_in, messages

NEW_PASSWORD = "tulip saddle quarry ninety"  # noqa: S105


def _link(app: Flask, subject: str) -> str:
    [message] = [m for m in messages(app) if m["Subject"] == subject]
    [url] = [u for u in links_in(message) if "/account/verify/" in u or "/account/reset/" in u]
    return url.removeprefix("http://127.0.0.1:5000")


def _flash(client: FlaskClient, location: str) -> str:
    page = client.get(location).text
    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>(.*?)<', page, re.S))


def _post(client: FlaskClient, url: str, **data: str):  # type: ignore[no-untyped-def]
    return client.post(url, data={**data, "csrf_token": csrf_token(client)})


def test_a_new_account_confirms_its_address_from_the_mailed_link_once(app: Flask) -> None:
    client = app.test_client()
    _post(
        client,
        "/account/signup",
        name="Pat Doe",
        email="pat@example.com",
        password=PASSWORD,
        role="mentee",
    )
    user = db.session.scalar(select(User).where(User.email == "pat@example.com"))
    assert user is not None and not user.email_verified
    url = _link(app, "Confirm your email address")

    assert client.get(url).status_code == 200  # opening the link only shows the button
    db.session.expire_all()
    assert not db.session.get(User, user.id).email_verified

    response = _post(client, url)
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified

    again = _post(client, url)
    assert again.status_code == 303 and again.location == "/account/login"
    assert "expired or has been used already" in _flash(client, again.location)


def test_booking_and_payouts_wait_for_a_confirmed_address(app: Flask) -> None:
    mentee = make_user(Role.MENTEE, verified=False)
    coach = make_user(Role.COACH, verified=False)
    bookable_coach = make_user(Role.COACH, hourly_rate=100)
    make_connected_account(bookable_coach)
    slot = make_slot(bookable_coach)
    with pytest.raises(EmailNotVerified):
        hold_slot(mentee, slot.id)
    with pytest.raises(EmailNotVerified):
        start_onboarding(coach.id, "US")  # before any call to Stripe: the fake is not needed


def test_an_unconfirmed_person_can_have_the_link_mailed_again(app: Flask) -> None:
    user = make_user(Role.MENTEE, verified=False)
    client = app.test_client()
    login(client, user)
    assert "not confirmed" in client.get("/account/profile").text
    response = _post(client, "/account/verify")
    assert response.status_code == 303
    _post(client, _link(app, "Confirm your email address"))
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified


def test_a_forgotten_password_is_reset_from_the_mail_and_every_session_ends(
    app: Flask, mentee: User
) -> None:
    elsewhere = app.test_client()
    login(elsewhere, mentee)  # signed in on another device
    client = app.test_client()
    assert "Forgot password?" in client.get("/account/login").text

    response = _post(client, "/account/forgot", email=mentee.email.upper())
    assert response.status_code == 303
    url = _link(app, "Reset your password")
    assert client.get(url).status_code == 200

    response = _post(client, url, new_password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert response.status_code == 303 and response.location == "/account/login"
    assert elsewhere.get("/account/profile").status_code == 302  # that session has ended
    login(client, mentee, password=NEW_PASSWORD)

    reused = app.test_client()
    again = _post(reused, url, new_password="another fine passphrase", confirm="x")
    assert again.status_code == 303 and again.location == "/account/forgot"
    assert "expired or has been used already" in _flash(reused, again.location)
    db.session.expire_all()
    assert services.authenticate(mentee.email, NEW_PASSWORD) is not None


def test_forgot_password_answers_the_same_for_an_unknown_address(app: Flask, mentee: User) -> None:
    answers = []
    for email in (mentee.email, "nobody@example.com"):
        client = app.test_client()
        response = _post(client, "/account/forgot", email=email)
        answers.append((response.status_code, response.location, _flash(client, response.location)))
    assert answers[0] == answers[1]
    assert [m["To"] for m in messages(app)] == [mentee.email]


def test_a_reset_link_expires_after_an_hour(
    app: Flask, mentee: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app.test_client()
    _post(client, "/account/forgot", email=mentee.email)
    url = _link(app, "Reset your password")
    later = real_time.time() + 3601
    monkeypatch.setattr("itsdangerous.timed.time", SimpleNamespace(time=lambda: later))
    response = client.get(url)
    assert response.status_code == 303 and response.location == "/account/forgot"
    response = _post(client, url, new_password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert response.status_code == 303
    db.session.expire_all()
    assert services.authenticate(mentee.email, PASSWORD) is not None


def test_a_confirmation_link_does_not_reset_a_password(app: Flask) -> None:
    client = app.test_client()
    _post(
        client,
        "/account/signup",
        name="Pat Doe",
        email="pat@example.com",
        password=PASSWORD,
        role="mentee",
    )
    token = _link(app, "Confirm your email address").rsplit("/", 1)[1]
    response = client.get(f"/account/reset/{token}")
    assert response.status_code == 303 and response.location == "/account/forgot"
