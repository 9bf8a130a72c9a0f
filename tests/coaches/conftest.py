"""Fixtures for booking tests: a bookable coach, an open slot, and a paid booking.

Stripe is the one fake at the gateway seam (`tests.stripe_fake`)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import AvailabilitySlot, Booking, Role, User
from tests.builders import make_connected_account, make_slot, make_user
from tests.conftest import PASSWORD, csrf_token, login
from tests.stripe_fake import FakeStripe


@pytest.fixture
def bookable_coach(app: Flask) -> User:
    coach = make_user(
        Role.COACH,
        "coach.booked@example.com",
        password=PASSWORD,
        name="Grace Hopper",
        headline="Compilers and careers",
        bio="Thirty years of shipping software.",
        session_price=Decimal("100.00"),
    )
    make_connected_account(coach)
    return coach


@pytest.fixture
def slot(bookable_coach: User) -> AvailabilitySlot:
    return make_slot(bookable_coach, hours_from_now=72)


@pytest.fixture
def mentee_client(app: Flask, mentee: User) -> FlaskClient:
    client = app.test_client()
    login(client, mentee)
    return client


def post_form(client: FlaskClient, url: str, **data: str) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client), **data})


def book_slot(client: FlaskClient, slot_id: int) -> Any:
    return post_form(client, f"/slots/{slot_id}/book")


def only_booking() -> Booking:
    db.session.expire_all()
    bookings = db.session.scalars(db.select(Booking)).all()
    assert len(bookings) == 1, bookings
    return bookings[0]


@pytest.fixture
def paid_booking(
    app: Flask, mentee_client: FlaskClient, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> Iterator[Booking]:
    """A booking paid through the return page, as a mentee would do it."""
    assert book_slot(mentee_client, slot.id).status_code == 303
    booking = only_booking()
    stripe_fake.pay(booking.stripe_checkout_session_id)
    response = mentee_client.get(
        f"/bookings/return?session_id={booking.stripe_checkout_session_id}"
    )
    assert response.status_code == 303
    db.session.expire_all()
    yield booking
