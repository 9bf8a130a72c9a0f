"""A person's name is one line: it stands in mail subjects, which cannot hold a line break, and in
calendar invitations. The profile and sign-up forms refuse a name that breaks the line, saying
so, and change nothing; a name stored with one earlier (when the forms took it) no longer loses
the mail whose subject names it, such as a paid booking's confirmation."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import Booking, User
from tests.coaches.conftest import Checkout, post_form
from tests.conftest import login
from tests.mailbox import messages

BROKEN = [
    "Grace\r\nBcc: someone@example.com",
    "Grace\nHopper",
    "Grace\rHopper",
    "Grace\u2028Hopper",
]
ONE_LINE = "Your name must fit on one line."


@pytest.mark.parametrize("name", BROKEN, ids=repr)
def test_the_profile_refuses_a_name_that_breaks_the_line(
    app: Flask, bookable_coach: User, name: str
) -> None:
    client = app.test_client()
    login(client, bookable_coach)
    response = post_form(client, "/account/profile", name=name, time_zone="UTC", submit="Save")
    assert response.status_code == 400
    assert ONE_LINE in response.text
    db.session.expire_all()
    assert db.session.get(User, bookable_coach.id).name == "Grace Hopper"


@pytest.mark.parametrize("name", BROKEN[:2], ids=repr)
def test_sign_up_refuses_a_name_that_breaks_the_line(client: FlaskClient, name: str) -> None:
    response = post_form(
        client,
        "/account/signup",
        name=name,
        email="new.person@example.com",
        password="a long and unusual passphrase",
        role="mentee",
    )
    assert response.status_code == 400
    assert ONE_LINE in response.text
    assert db.session.scalar(db.select(User).where(User.email == "new.person@example.com")) is None


def test_a_name_stored_with_a_line_break_still_gets_the_booking_confirmed_by_mail(
    app: Flask, checkout: Checkout, bookable_coach: User
) -> None:
    bookable_coach.name = "Grace\r\nHopper"  # as the profile form took it before
    db.session.commit()
    booking: Booking = checkout.start()
    checkout.stripe.pay(booking.stripe_checkout_session_id)
    assert checkout.tell_of_checkout("checkout.session.completed", booking).status_code == 200
    subjects = [str(m["Subject"]) for m in messages(app)]
    assert any(s.startswith("Booked: Grace Hopper, ") for s in subjects), subjects
