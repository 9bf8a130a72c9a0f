"""Open times at the far end of the calendar: a coach who types a date years ahead (a slip of
the keyboard, or 9999-12-31) is told to pick a nearer time, on every clock, and nothing is
written. Accepted, such a time broke what is built from it later: the calendar invitation of
its booking (its end is past the calendar's last day), so the confirmation mail and the
booking's calendar download failed after the mentee had paid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import AvailabilitySlot, User
from tests.conftest import csrf_token, login

TOO_FAR = "Offer a time within the next two years."


@pytest.fixture
def coach_client(app: Flask, bookable_coach: User) -> FlaskClient:
    client = app.test_client()
    login(client, bookable_coach)
    return client


def _add_slot(client: FlaskClient, wall: str, minutes: str = "60"):  # type: ignore[no-untyped-def]
    return client.post(
        "/coach/slots",
        headers={"HX-Request": "true", "X-CSRFToken": csrf_token(client)},
        data={"starts_at": wall, "duration_minutes": minutes},
    )


def _slot_count() -> int:
    db.session.expire_all()
    return len(db.session.scalars(db.select(AvailabilitySlot)).all())


@pytest.mark.parametrize(
    ("zone", "wall"),
    [
        ("UTC", "9999-12-31T23:30"),  # its end is past the calendar's last moment
        ("America/New_York", "9999-12-31T22:00"),  # its start, in UTC, is too
        ("Pacific/Kiritimati", "9999-12-31T10:00"),
        ("Europe/Berlin", "2100-06-01T09:00"),
    ],
)
def test_a_time_years_ahead_is_refused_with_a_reason_on_every_clock(
    coach_client: FlaskClient, bookable_coach: User, zone: str, wall: str
) -> None:
    bookable_coach.time_zone = zone
    db.session.commit()
    before = _slot_count()
    response = _add_slot(coach_client, wall, "240")
    assert response.status_code == 400
    assert TOO_FAR in response.text
    assert _slot_count() == before


def test_a_time_just_inside_two_years_is_offered(
    coach_client: FlaskClient, bookable_coach: User
) -> None:
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=700)
    response = _add_slot(coach_client, soon.strftime("%Y-%m-%dT%H:%M"))
    assert response.status_code == 200
    assert _slot_count() == 1
