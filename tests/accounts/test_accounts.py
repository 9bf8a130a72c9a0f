"""Signing up, signing in and out, the profile page, and the admin and demo commands."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AvailabilitySlot, CoachProfile, Role, User
from tests.builders import make_user
from tests.conftest import PASSWORD, csrf_token, login


def _signup(client: FlaskClient, **fields: str):  # type: ignore[no-untyped-def]
    data = {"name": "Pat Doe", "email": "Pat@Example.com", "password": PASSWORD, "role": "mentee"}
    data.update(fields)
    return client.post("/account/signup", data={**data, "csrf_token": csrf_token(client)})


def test_mentee_signs_up_then_signs_in(client: FlaskClient) -> None:
    response = _signup(client)
    assert response.status_code == 303 and response.location == "/account/login"
    user = db.session.scalar(select(User).where(User.email == "pat@example.com"))
    assert user is not None and user.role is Role.MENTEE
    assert user.coach_profile is None
    assert client.get("/account/profile").status_code == 302  # nobody is signed in yet
    login(client, user)
    assert client.get("/account/profile").status_code == 200


def test_password_is_stored_as_an_argon2id_hash(client: FlaskClient) -> None:
    _signup(client)
    user = db.session.scalar(select(User))
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_coach_sign_up_creates_an_unpublished_coach_profile(client: FlaskClient) -> None:
    _signup(client, role="coach", email="coach.new@example.com")
    user = db.session.scalar(select(User).where(User.email == "coach.new@example.com"))
    login(client, user)
    assert user.role is Role.COACH
    assert user.coach_profile is not None
    assert user.coach_profile.is_published is False
    assert client.get("/coach/profile").status_code == 200


def test_sign_up_answers_the_same_whether_or_not_the_email_has_an_account(
    app: Flask, mentee: User
) -> None:
    before = mentee.password_hash
    answers = []
    for email in (mentee.email.upper(), "someone.new@example.com"):
        client = app.test_client()
        response = _signup(client, email=email, password="another long passphrase")
        page = client.get(response.location)
        answers.append((response.status_code, response.location, _flash_text(page.text)))
        assert client.get("/account/profile").status_code == 302  # nobody signed in
    assert answers[0] == answers[1]
    assert db.session.scalar(select(func.count(User.id))) == 2  # the new one only
    assert db.session.get(User, mentee.id).password_hash == before


def _flash_text(html: str) -> str:
    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>(.*?)<', html, re.S))


def test_sign_up_errors_show_next_to_their_fields(client: FlaskClient) -> None:
    response = _signup(client, email="not-an-email", password="short", name="")
    assert response.status_code == 400
    assert 'id="email-error"' in response.text
    assert 'id="password-error"' in response.text
    assert 'id="name-error"' in response.text
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_sign_up_cannot_choose_the_admin_role(client: FlaskClient) -> None:
    response = _signup(client, role="admin")
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_deactivated_user_cannot_sign_in(client: FlaskClient, mentee: User) -> None:
    mentee.is_active = False
    db.session.commit()
    response = client.post(
        "/account/login",
        data={"email": mentee.email, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 400


def test_deactivating_a_user_ends_their_open_sessions(client: FlaskClient, mentee: User) -> None:
    login(client, mentee)
    mentee.is_active = False
    db.session.commit()
    assert client.get("/account/profile").status_code == 302


def test_profile_name_can_be_changed(client: FlaskClient, mentee: User) -> None:
    login(client, mentee)
    response = client.post(
        "/account/profile",
        data={"name": "New Name", "submit": "Save", "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 303
    assert db.session.get(User, mentee.id).name == "New Name"


def test_password_change_signs_out_other_devices(app: Flask, mentee: User) -> None:
    here, elsewhere = app.test_client(), app.test_client()
    login(here, mentee)
    login(elsewhere, mentee)
    response = here.post(
        "/account/password",
        data={
            "pw-current_password": PASSWORD,
            "pw-new_password": "a brand new passphrase",
            "pw-confirm": "a brand new passphrase",
            "csrf_token": csrf_token(here),
        },
    )
    assert response.status_code == 303
    assert here.get("/account/profile").status_code == 200
    assert elsewhere.get("/account/profile").status_code == 302


def test_password_change_with_wrong_current_password_changes_nothing(
    client: FlaskClient, mentee: User
) -> None:
    login(client, mentee)
    before = mentee.password_hash
    response = client.post(
        "/account/password",
        data={
            "pw-current_password": "not my password",
            "pw-new_password": "a brand new passphrase",
            "pw-confirm": "a brand new passphrase",
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 400
    assert "not your current password" in response.text
    assert db.session.get(User, mentee.id).password_hash == before


def test_nav_shows_links_for_the_role(client: FlaskClient, coach: User) -> None:
    login(client, coach)
    page = client.get("/coach/profile").text
    assert "My profile" in page
    assert "Transactions" not in page


def test_create_admin_command_makes_an_admin(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["create-admin", "Boss@Example.com", "--password", "long enough password"]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "boss@example.com"))
    assert user.role is Role.ADMIN


def test_create_admin_promotes_an_existing_user(app: Flask) -> None:
    user = make_user(Role.MENTEE, "promote@example.com")
    result = app.test_cli_runner().invoke(args=["create-admin", "promote@example.com"])
    assert result.exit_code == 0
    db.session.expire_all()
    assert db.session.get(User, user.id).role is Role.ADMIN


def test_create_admin_refuses_a_short_password(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["create-admin", "x@example.com", "--password", "s"])
    assert result.exit_code != 0
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_seed_demo_fills_an_empty_database_once(app: Flask) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0
    assert "admin@portal.example" in first.output
    coaches = db.session.scalar(select(func.count(CoachProfile.id)))
    slots = db.session.scalar(select(func.count(AvailabilitySlot.id)))
    assert coaches >= 3 and slots > 0
    second = runner.invoke(args=["seed-demo"])
    assert "not added" in second.output
    assert db.session.scalar(select(func.count(CoachProfile.id))) == coaches
    again = runner.invoke(args=["demo-logins"])  # `make run` prints them once the portal is up
    assert again.exit_code == 0
    box = again.output.splitlines()
    assert box[0].startswith("+--") and box[-1] == box[0]
    assert any("admin   admin@portal.example" in line for line in box)
    assert "demo-password-123" in again.output


def test_error_pages_use_the_portal_layout(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Not found" in response.text
    assert "Coaching portal" in response.text


def test_method_not_allowed_page(client: FlaskClient) -> None:
    response = client.put("/account/login")
    assert response.status_code == 405
    assert "Method not allowed" in response.text


def test_unexpected_error_shows_the_500_page(app: Flask) -> None:
    from portal.security import PUBLIC, allow

    @allow(PUBLIC)
    def explode() -> str:
        raise RuntimeError("boom")

    app.add_url_rule("/explode", "explode", explode)
    response = app.test_client().get("/explode")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "boom" not in response.text
