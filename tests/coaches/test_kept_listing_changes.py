"""What people change through their own pages shows at once on the pages kept for visitors: the
coach page shows each open time on the coach's clock too, so a coach who moves to another time
zone changes it, and an admin who deactivates a coach takes the coach off both pages."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import Role, User
from tests.builders import make_connected_account, make_slot, make_user
from tests.conftest import PASSWORD, csrf_token, login


def _listed_coach(time_zone: str) -> User:
    coach = make_user(
        Role.COACH,
        name="Ada Lovelace",
        password=PASSWORD,
        session_price=Decimal("100.00"),
    )
    coach.time_zone = time_zone
    make_connected_account(coach)
    make_slot(coach, hours_from_now=72)
    db.session.commit()
    return coach


def test_a_coach_who_moves_time_zone_is_shown_on_the_new_clock_on_the_kept_page(
    app: Flask, client: FlaskClient
) -> None:
    coach = _listed_coach("Asia/Tokyo")
    page = f"/coaches/{coach.id}"
    assert "JST for Ada Lovelace" in client.get(page).text  # kept from now on

    own = app.test_client()
    login(own, coach)
    saved = own.post(
        "/account/profile",
        data={
            "name": "Ada Lovelace",
            "time_zone": "America/Sao_Paulo",
            "submit": "Save",
            "csrf_token": csrf_token(own),
        },
    )
    assert saved.status_code == 303, saved.text

    shown = client.get(page).text
    assert "JST" not in shown
    assert "-03 for Ada Lovelace" in shown


def test_a_coach_an_admin_deactivates_leaves_the_kept_pages_at_once(
    app: Flask, client: FlaskClient, admin: User
) -> None:
    coach = _listed_coach("UTC")
    page = f"/coaches/{coach.id}"
    assert client.get(page).status_code == 200
    assert "Ada Lovelace" in client.get("/").text

    boss = app.test_client()
    login(boss, admin)
    done = boss.post(f"/admin/users/{coach.id}/deactivate", data={"csrf_token": csrf_token(boss)})
    assert done.status_code == 303

    assert client.get(page).status_code == 404
    assert "Ada Lovelace" not in client.get("/").text
