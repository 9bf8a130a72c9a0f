"""Each person's time zone: proposed by the browser at sign-up, changed on the profile, and
refused with a clear message when it is not a zone (changing nothing)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AvailabilitySlot, OutboxMessage, Role, User
from portal.time_zones import show_time
from tests.conftest import PASSWORD, csrf_token, login


def _signup(client: FlaskClient, **fields: str):  # type: ignore[no-untyped-def]
    data = {"name": "Pat Doe", "email": "pat@example.com", "password": PASSWORD, "role": "mentee"}
    data.update(fields)
    return client.post("/account/signup", data={**data, "csrf_token": csrf_token(client)})


def _user(email: str = "pat@example.com") -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def test_the_sign_up_page_carries_a_hidden_field_the_browser_script_fills(
    client: FlaskClient,
) -> None:
    page = client.get("/account/signup").text
    assert re.search(r'<input[^>]*data-browser-time-zone[^>]*name="time_zone"', page) or re.search(
        r'<input[^>]*name="time_zone"[^>]*data-browser-time-zone', page
    )
    assert 'src="/static/js/time_zone.js"' in page


def test_the_zone_the_browser_proposes_at_sign_up_is_the_accounts(client: FlaskClient) -> None:
    assert _signup(client, time_zone="Asia/Tokyo").status_code == 303
    assert _user().time_zone == "Asia/Tokyo"


def test_a_sign_up_without_a_proposed_zone_starts_in_utc(client: FlaskClient) -> None:
    assert _signup(client).status_code == 303
    assert _user().time_zone == "UTC"


def test_a_sign_up_with_an_unknown_zone_is_refused_and_makes_no_account(
    client: FlaskClient,
) -> None:
    response = _signup(client, time_zone="Mars/Olympus")
    assert response.status_code == 400
    assert "is not a time zone we know" in response.text
    assert _user() is None
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def _save_profile(client: FlaskClient, **fields: str):  # type: ignore[no-untyped-def]
    data = {"name": "Mentee Renamed", "optional_mail": "y", "submit": "Save"}
    data.update(fields)
    return client.post("/account/profile", data={**data, "csrf_token": csrf_token(client)})


def test_a_person_changes_their_zone_on_the_profile(client: FlaskClient, mentee: User) -> None:
    login(client, mentee)
    page = client.get("/account/profile").text
    assert 'list="time-zones"' in page and '<option value="Europe/Berlin">' in page
    assert _save_profile(client, time_zone=" Europe/Berlin ").status_code == 303
    assert _user(mentee.email).time_zone == "Europe/Berlin"


@pytest.mark.parametrize("bad", ["Mars/Olympus", "europe/berlin", "localtime", "x" * 500, ""])
def test_an_unknown_zone_on_the_profile_is_refused_and_changes_nothing(
    client: FlaskClient, mentee: User, bad: str
) -> None:
    login(client, mentee)
    response = _save_profile(client, time_zone=bad)
    assert response.status_code == 400
    assert 'id="time_zone-error"' in response.text
    assert "time zone" in response.text.split('id="time_zone-error">')[1].split("</p>")[0]
    user = _user(mentee.email)
    assert (user.time_zone, user.name) == ("UTC", mentee.name)


def test_demo_coaches_live_in_real_zones_and_open_at_nine_and_two_on_their_clocks(
    app: Flask,
) -> None:
    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    coaches = db.session.scalars(select(User).where(User.role == Role.COACH)).all()
    zones = {coach.time_zone for coach in coaches}
    assert {"America/New_York", "Europe/Berlin"} <= zones and "UTC" not in zones
    for coach in coaches:
        slots = db.session.scalars(
            select(AvailabilitySlot).where(AvailabilitySlot.coach_id == coach.id)
        ).all()
        hours = {show_time(slot.starts_at, coach.time_zone, "%H:%M") for slot in slots}
        assert hours == {"09:00", "14:00"}, (coach.email, hours)
    mentees = db.session.scalars(select(User).where(User.role == Role.MENTEE)).all()
    assert {m.time_zone for m in mentees} == {"UTC"}
