"""A coach's currency is fixed once money has moved in it: the balances, the ledger, the yearly
statement and the comparison with Stripe's balance all read the coach's one currency, so a
switch after a booking showed the dollars earned as euros and set reconciliation against a
balance Stripe holds in dollars. The profile says why and changes nothing; a coach not yet
booked may still choose."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask
from flask.testing import FlaskClient

from portal import ledger
from portal.extensions import db
from portal.models import CoachProfile, User
from tests.builders import make_payment, make_user
from tests.coaches.conftest import post_form
from tests.conftest import login


def _switch_to_euros(client: FlaskClient):  # type: ignore[no-untyped-def]
    return post_form(
        client,
        "/coach/profile",
        headline="Compilers and careers",
        bio="Thirty years of shipping software.",
        session_price="100.00",
        currency="EUR",
        session_minutes="60",
        is_published="y",
    )


def _profile(coach: User) -> CoachProfile:
    db.session.expire_all()
    profile = db.session.scalar(db.select(CoachProfile).where(CoachProfile.user_id == coach.id))
    assert profile is not None
    return profile


def test_a_paid_coach_keeps_the_currency_they_were_paid_in(
    app: Flask, bookable_coach: User
) -> None:
    paid = make_payment(bookable_coach, make_user())
    ledger.record_payment(paid)
    db.session.commit()
    client = app.test_client()
    login(client, bookable_coach)

    response = _switch_to_euros(client)
    assert response.status_code == 409
    assert "Your prices stay in USD" in response.text
    profile = _profile(bookable_coach)
    assert (profile.currency, profile.pending_balance) == ("USD", Decimal("80.00"))
    assert ledger.verify() == []


def test_a_coach_not_yet_booked_may_choose_another_currency(
    app: Flask, bookable_coach: User
) -> None:
    client = app.test_client()
    login(client, bookable_coach)
    assert _switch_to_euros(client).status_code == 303
    assert _profile(bookable_coach).currency == "EUR"
