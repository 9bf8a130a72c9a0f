"""Fixtures for booking tests: a bookable coach, an open slot, a mentee on the way through
Checkout, and a paid booking.

Stripe is the one fake at the gateway seam (`tests.stripe_fake`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal.extensions import db
from portal.models import AvailabilitySlot, Booking, Role, User
from tests.builders import make_connected_account, make_slot, make_user
from tests.conftest import PASSWORD, csrf_token, login
from tests.stripe_fake import FakeStripe
from tests.webhooks.payloads import event
from tests.webhooks.signing import PLATFORM_PATH, platform_secret, signed_post


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


@dataclass
class Checkout:
    """A mentee booking `slot` through Checkout: the mentee's signed-in client, Stripe's side
    (`stripe`, faked at the gateway seam) and Stripe's webhook deliveries (`webhook`)."""

    mentee: FlaskClient
    slot: AvailabilitySlot
    stripe: FakeStripe
    webhook: FlaskClient

    def start(self) -> Booking:
        """The mentee books the slot and is sent on to Checkout: the booking, held."""
        assert book_slot(self.mentee, self.slot.id).status_code == 303
        return only_booking()

    def come_back(self, booking: Booking, client: FlaskClient | None = None) -> TestResponse:
        """The mentee (or `client`) comes back from the booking's Checkout to the return page."""
        url = f"/bookings/return?session_id={booking.stripe_checkout_session_id}"
        return (client or self.mentee).get(url)

    def tell(self, type_: str, stripe_object: dict[str, Any]) -> TestResponse:
        """Stripe tells the platform's webhook of `stripe_object`, in a new event of `type_`."""
        delivered = event(type_, stripe_object)
        return signed_post(self.webhook, PLATFORM_PATH, delivered, platform_secret(self.webhook))

    def tell_of_checkout(self, type_: str, booking: Booking) -> TestResponse:
        """`tell` of the booking's Checkout Session as Stripe has it now, as a webhook carries
        it (its PaymentIntent by id only)."""
        return self.tell(type_, self.stripe.event_object(booking.stripe_checkout_session_id))


@pytest.fixture
def checkout(
    app: Flask, mentee_client: FlaskClient, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> Checkout:
    return Checkout(mentee_client, slot, stripe_fake, app.test_client())


@pytest.fixture
def paid_booking(checkout: Checkout) -> Iterator[Booking]:
    """A booking paid through the return page, as a mentee would do it."""
    booking = checkout.start()
    checkout.stripe.pay(booking.stripe_checkout_session_id)
    assert checkout.come_back(booking).status_code == 303
    db.session.expire_all()
    yield booking
