"""A session ended while its cookie and the page's CSRF token are kept (by a second browser, or
by someone who copied them) posts nothing: the token the page showed is kept per process for the
session's secret, and the cookie's signing is kept per process too, yet neither outlives the
sign-out or password change that ended the session. Each new session shows a token of its own."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from portal.extensions import db
from portal.models import User
from tests.accounts.test_sessions_and_throttles import _copy_of_cookies
from tests.conftest import PASSWORD, csrf_token, login

NEW_PASSWORD = "a brand new passphrase 42"


def _rename(client: FlaskClient, token: str, name: str) -> int:
    return client.post(
        "/account/profile",
        data={"name": name, "time_zone": "UTC", "submit": "Save", "csrf_token": token},
    ).status_code


def _secret_in(app: Flask, token: str) -> str:
    """The session secret a CSRF token signs; two signings a second apart carry the same one."""
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").loads(token)


def _name_of(user: User) -> str:
    db.session.expire_all()
    return db.session.get(User, user.id).name


def test_a_copied_cookie_and_its_kept_token_post_nothing_after_sign_out(
    app: Flask, mentee: User
) -> None:
    browser = app.test_client()
    login(browser, mentee)
    token = csrf_token(browser)  # kept for this session's secret from now on
    stolen = _copy_of_cookies(app, browser)
    # the copy is given a token for the same session secret (signed anew when the page
    # builds a form, so compared by what it signs, not by its text)
    assert _secret_in(app, csrf_token(stolen)) == _secret_in(app, token)
    name = _name_of(mentee)

    assert browser.post("/account/logout", data={"csrf_token": token}).status_code == 303
    refused = _rename(stolen, token, "Mallory")
    assert refused in (302, 400), refused
    assert _name_of(mentee) == name
    assert stolen.get("/account/profile").status_code == 302


def test_a_password_change_ends_the_other_browser_and_its_kept_token(
    app: Flask, mentee: User
) -> None:
    here, there = app.test_client(), app.test_client()
    login(here, mentee)
    login(there, mentee)
    theirs = csrf_token(there)
    changed = here.post(
        "/account/password",
        data={
            "pw-current_password": PASSWORD,
            "pw-new_password": NEW_PASSWORD,
            "pw-confirm": NEW_PASSWORD,
            "pw-submit": "Change password",
            "csrf_token": csrf_token(here),
        },
    )
    assert changed.status_code == 303, changed.text
    name = _name_of(mentee)
    assert _rename(there, theirs, "Mallory") in (302, 400)
    assert _name_of(mentee) == name
    assert here.get("/account/profile").status_code == 200  # the device that changed it stays


def test_every_session_is_shown_a_token_of_its_own(app: Flask, mentee: User, coach: User) -> None:
    browser = app.test_client()
    before = csrf_token(browser)  # an anonymous visitor's session
    login(browser, mentee)
    first = csrf_token(browser)
    assert browser.post("/account/logout", data={"csrf_token": first}).status_code == 303
    login(browser, mentee)
    second = csrf_token(browser)
    other = app.test_client()
    login(other, coach)
    tokens = (before, first, second, csrf_token(other))
    assert len({_secret_in(app, token) for token in tokens}) == 4
    # A token of the ended session is no good on the new one, even for the same person.
    assert _rename(browser, first, "Renamed") == 400
    assert _rename(browser, second, "Renamed") == 303
    assert _name_of(mentee) == "Renamed"
