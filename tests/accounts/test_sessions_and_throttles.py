"""Sign-out ends every copy of a session; throttles count what they should; passwords per NIST."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Role, User
from tests.builders import make_user
from tests.conftest import PASSWORD, csrf_token, login


def _copy_of_cookies(app: Flask, source: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of `source`'s cookies, as someone who copied them would."""
    copy = app.test_client()
    for cookie in source._cookies.values():
        copy.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    return copy


def test_a_cookie_copied_before_sign_out_is_refused_after_it(app: Flask, mentee: User) -> None:
    browser = app.test_client()
    login(browser, mentee)
    stolen = _copy_of_cookies(app, browser)
    assert stolen.get("/account/profile").status_code == 200  # the copy works until sign-out

    response = browser.post("/account/logout", data={"csrf_token": csrf_token(browser)})
    assert response.status_code == 303

    after = stolen.get("/account/profile")
    assert after.status_code == 302 and after.location.startswith("/account/login")
    login(browser, mentee)  # signing in again works, with a new session
    assert browser.get("/account/profile").status_code == 200


def test_a_cookie_copied_before_deactivation_is_refused_after_reactivation(
    app: Flask, mentee: User, admin: User
) -> None:
    browser = app.test_client()
    login(browser, mentee)
    stolen = _copy_of_cookies(app, browser)
    boss = app.test_client()
    login(boss, admin)
    token = csrf_token(boss)
    for action in ("deactivate", "reactivate"):
        response = boss.post(f"/admin/users/{mentee.id}/{action}", data={"csrf_token": token})
        assert response.status_code == 303
    assert stolen.get("/account/profile").status_code == 302


def _sign_in(client: FlaskClient, email: str, password: str, token: str) -> int:
    return client.post(
        "/account/login", data={"email": email, "password": password, "csrf_token": token}
    ).status_code


def test_successful_sign_ins_are_not_counted(app: Flask, mentee: User) -> None:
    for _ in range(12):
        login(app.test_client(), mentee)  # the same address and account each time
    client = app.test_client()
    token = csrf_token(client)
    failures = [_sign_in(client, mentee.email, "wrong password!", token) for _ in range(11)]
    assert failures == [400] * 10 + [429]


def test_sign_up_is_throttled(app: Flask) -> None:
    client = app.test_client()
    token = csrf_token(client)
    statuses = [
        client.post(
            "/account/signup",
            data={
                "name": f"Person {n}",
                "email": f"person{n}@example.com",
                "password": PASSWORD,
                "role": "mentee",
                "csrf_token": token,
            },
        ).status_code
        for n in range(6)
    ]
    assert statuses == [303] * 5 + [429]
    assert db.session.scalar(select(func.count(User.id))) == 5


def _change_password(client: FlaskClient, current: str, new: str) -> int:
    return client.post(
        "/account/password",
        data={
            "pw-current_password": current,
            "pw-new_password": new,
            "pw-confirm": new,
            "csrf_token": csrf_token(client),
        },
    ).status_code


def test_wrong_current_passwords_are_throttled(app: Flask, mentee: User) -> None:
    client = app.test_client()
    login(client, mentee)
    statuses = [
        _change_password(client, f"not my password {n}", "a brand new passphrase") for n in range(6)
    ]
    assert statuses == [400] * 5 + [429]
    assert _change_password(client, PASSWORD, "a brand new passphrase") == 429
    assert db.session.get(User, mentee.id).password_hash == mentee.password_hash


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("aaaaaaaaaaaa", "Repeats"),
        ("password123", "at least 12 characters"),
        ("password1234", "very common password"),
        ("qwertyuiopasdf", "commonly used password"),
        ("pat.doe@example.com", "your name, your email address"),
        ("Pat Doe 2026!", "your name, your email address"),
        ("x" * 257, "at most 256 characters"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(
    client: FlaskClient, password: str, why: str
) -> None:
    response = client.post(
        "/account/signup",
        data={
            "name": "Pat Doe",
            "email": "pat.doe@example.com",
            "password": password,
            "role": "mentee",
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 400
    assert why in response.text
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_a_new_password_is_checked_against_the_person_too(app: Flask) -> None:
    user = make_user(Role.MENTEE, "robin.hood@example.com", password=PASSWORD, name="Robin Hood")
    client = app.test_client()
    login(client, user)
    assert _change_password(client, PASSWORD, "robinhood rides again") == 400
    assert db.session.get(User, user.id).password_hash == user.password_hash


def test_the_demo_and_test_passwords_are_accepted() -> None:
    from portal.accounts.passwords import password_problem
    from portal.cli import DEMO_PASSWORD

    assert (
        password_problem(DEMO_PASSWORD, email="admin@portal.example", name="Portal Admin") is None
    )
    assert password_problem(PASSWORD, email="mentee.a@example.com", name="Mentee 1") is None
