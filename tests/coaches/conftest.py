"""Fixtures for booking tests: a bookable coach, an open slot, and Stripe faked at the gateway.

`FakeStripe` replaces the functions of `portal.stripe_gateway.checkout`, `.customers` and
`.refunds` (never anything inside the code under test). It builds the real request parameters
with the gateway's own `booking_session_params`, keeps objects by idempotency key as Stripe
does, and hands back real-shaped plain dicts.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import AvailabilitySlot, Booking, Refund, Role, User
from portal.money import to_minor_units
from portal.stripe_gateway import InvalidRequest, StripeUnavailable, idempotency_key
from portal.stripe_gateway import checkout as checkout_gateway
from portal.stripe_gateway import customers as customers_gateway
from portal.stripe_gateway import refunds as refunds_gateway
from tests.builders import make_connected_account, make_slot, make_user
from tests.conftest import PASSWORD, csrf_token, login


class FakeStripe:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seq = itertools.count(1)
        self.sessions: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.refunds: dict[str, dict[str, Any]] = {}
        self.down = False

    def _unavailable(self) -> None:
        if self.down:
            raise StripeUnavailable(
                "We could not reach our payment provider. Nothing was charged; please try "
                "again in a few minutes."
            )

    # customers
    def create_customer(self, user: User) -> dict[str, Any]:
        self._unavailable()
        key = idempotency_key("customer", user)
        with self.lock:
            self.calls.append(("customers.create", key, {"email": user.email}))
            return self.by_key.setdefault(key, {"id": f"cus_test{user.id}", "object": "customer"})

    # checkout
    def create_booking_session(self, booking: Booking, **details: str) -> dict[str, Any]:
        self._unavailable()
        params = checkout_gateway.booking_session_params(booking, **details)
        key = idempotency_key("booking-checkout", booking)
        with self.lock:
            self.calls.append(("checkout.sessions.create", key, params))
            if key in self.by_key:
                return copy.deepcopy(self.by_key[key])
            sid = f"cs_test_{next(self.seq):04d}{booking.id}"
            session = {
                "id": sid,
                "object": "checkout.session",
                "mode": "payment",
                "status": "open",
                "payment_status": "unpaid",
                "client_reference_id": params["client_reference_id"],
                "metadata": dict(params["metadata"]),
                "customer": params["customer"],
                "amount_total": params["line_items"][0]["price_data"]["unit_amount"],
                "currency": params["line_items"][0]["price_data"]["currency"],
                "payment_intent": None,
                "expires_at": params["expires_at"],
                "success_url": params["success_url"],
                "cancel_url": params["cancel_url"],
                "url": f"https://checkout.stripe.com/c/pay/{sid}",
            }
            self.sessions[sid] = session
            self.by_key[key] = session
            return copy.deepcopy(session)

    def retrieve_session(self, session_id: str) -> dict[str, Any]:
        self._unavailable()
        with self.lock:
            self.calls.append(("checkout.sessions.retrieve", "", {"id": session_id}))
            if session_id not in self.sessions:
                raise InvalidRequest(f"No such checkout.session: '{session_id}'")
            return copy.deepcopy(self.sessions[session_id])

    def expire_session(self, session_id: str) -> dict[str, Any]:
        self._unavailable()
        with self.lock:
            self.calls.append(("checkout.sessions.expire", "", {"id": session_id}))
            session = self.sessions[session_id]
            if session["status"] != "open":
                raise InvalidRequest("Only Checkout Sessions with a status of open can expire.")
            session["status"] = "expired"
            session["url"] = None
            return copy.deepcopy(session)

    def pay(self, session_id: str, *, payment_status: str = "paid") -> dict[str, Any]:
        """The mentee pays on the hosted page; returns the session as a retrieve expands it."""
        with self.lock:
            session = self.sessions[session_id]
            n = next(self.seq)
            session["status"] = "complete"
            session["payment_status"] = payment_status
            session["payment_intent"] = {
                "id": f"pi_test_{n:06d}",
                "object": "payment_intent",
                "status": "succeeded" if payment_status == "paid" else "processing",
                "amount": session["amount_total"],
                "metadata": dict(session["metadata"]),
                "latest_charge": {
                    "id": f"ch_test_{n:06d}",
                    "object": "charge",
                    "transfer": f"tr_test_{n:06d}",
                    "receipt_url": f"https://pay.stripe.com/receipts/{n}",
                },
            }
            return copy.deepcopy(session)

    def event_object(self, session_id: str) -> dict[str, Any]:
        """The session as a webhook carries it: the PaymentIntent is only an id."""
        with self.lock:
            session = copy.deepcopy(self.sessions[session_id])
        if isinstance(session["payment_intent"], dict):
            session["payment_intent"] = session["payment_intent"]["id"]
        return session

    # refunds
    def create_refund(self, refund: Refund, *, payment_intent_id: str) -> dict[str, Any]:
        self._unavailable()
        key = idempotency_key("refund", refund)
        params = {
            "payment_intent": payment_intent_id,
            "amount": to_minor_units(refund.amount, refund.currency),
            "metadata": {"refund_id": str(refund.id)},
        }
        with self.lock:
            self.calls.append(("refunds.create", key, params))
            if key in self.by_key:
                return copy.deepcopy(self.by_key[key])
            created = {
                "id": f"re_test_{next(self.seq):06d}",
                "object": "refund",
                "status": "succeeded",
                "created": next(self.seq),
                **params,
            }
            self.by_key[key] = created
            self.refunds[created["id"]] = created
            return copy.deepcopy(created)

    def list_refunds_for_charge(self, charge_id: str) -> list[dict[str, Any]]:
        self._unavailable()
        with self.lock:
            return copy.deepcopy(list(self.refunds.values()))

    def count(self, operation: str) -> int:
        return sum(1 for op, _, _ in self.calls if op == operation)

    def params_of(self, operation: str) -> list[dict[str, Any]]:
        return [params for op, _, params in self.calls if op == operation]

    def keys_of(self, operation: str) -> list[str]:
        return [key for op, key, _ in self.calls if op == operation]


@pytest.fixture
def stripe_fake(monkeypatch: pytest.MonkeyPatch) -> FakeStripe:
    fake = FakeStripe()
    monkeypatch.setattr(customers_gateway, "create_customer", fake.create_customer)
    for name in ("create_booking_session", "retrieve_session", "expire_session"):
        monkeypatch.setattr(checkout_gateway, name, getattr(fake, name))
    for name in ("create_refund", "list_refunds_for_charge"):
        monkeypatch.setattr(refunds_gateway, name, getattr(fake, name))
    return fake


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
