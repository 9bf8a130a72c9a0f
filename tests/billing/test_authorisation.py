"""A mentee never sees, changes or removes another mentee's card or invoice."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask import Flask

from portal.extensions import db
from portal.models import Invoice, InvoiceStatus, PaymentMethod, Role, User
from portal.stripe_gateway import billing as billing_gateway
from portal.stripe_gateway import checkout as checkout_gateway
from tests.builders import make_user
from tests.conftest import PASSWORD, csrf_token, login


@pytest.fixture
def owner(app: Flask) -> User:
    user = make_user(Role.MENTEE, "owner@example.com", password=PASSWORD)
    user.stripe_customer_id = "cus_owner"
    db.session.add(
        PaymentMethod(
            user_id=user.id,
            stripe_payment_method_id="pm_owner",
            type="credit",
            brand="visa",
            last4="4242",
            expiry_month=12,
            expiry_year=2034,
            is_default=True,
        )
    )
    db.session.add(
        Invoice(
            stripe_invoice_id="in_owner",
            amount=Decimal("19.00"),
            currency="USD",
            status=InvoiceStatus.PAID,
            user_id=user.id,
            invoice_url="https://invoice.example/in_owner",
        )
    )
    db.session.commit()
    return user


@pytest.fixture
def stripe_untouched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any call to Stripe from these requests is a failure: the refusal comes first."""
    calls: list[str] = []
    for module, name in (
        (billing_gateway, "detach_payment_method"),
        (billing_gateway, "set_default_payment_method"),
        (checkout_gateway, "retrieve_session"),
    ):
        monkeypatch.setattr(module, name, lambda *a, _n=name, **k: calls.append(_n))
    return calls


def test_another_mentee_cannot_remove_or_default_a_card_that_is_not_theirs(
    app: Flask, owner: User, stripe_untouched: list[str]
) -> None:
    other = make_user(Role.MENTEE, "other@example.com", password=PASSWORD)
    client = app.test_client()
    login(client, other)
    card = db.session.scalars(db.select(PaymentMethod)).one()
    token = csrf_token(client)
    for action in ("remove", "default"):
        response = client.post(f"/billing/cards/{card.id}/{action}", data={"csrf_token": token})
        assert response.status_code == 404
    assert db.session.scalars(db.select(PaymentMethod)).one().is_default
    assert stripe_untouched == []
    page = client.get("/billing/cards").text
    assert "4242" not in page and "You have no saved cards yet." in page


def test_another_mentee_cannot_see_an_invoice_that_is_not_theirs(app: Flask, owner: User) -> None:
    other = make_user(Role.MENTEE, "other@example.com", password=PASSWORD)
    invoice = db.session.scalars(db.select(Invoice)).one()
    client = app.test_client()
    login(client, other)
    assert client.get(f"/billing/invoices/{invoice.id}").status_code == 404
    assert "in_owner" not in client.get("/billing/invoices").text

    login(owner_client := app.test_client(), owner)
    assert owner_client.get(f"/billing/invoices/{invoice.id}").status_code == 200
    assert "https://invoice.example/in_owner" in owner_client.get("/billing/invoices").text


def test_coaches_and_admins_are_refused_the_billing_pages(app: Flask) -> None:
    for role in (Role.COACH, Role.ADMIN):
        client = app.test_client()
        login(client, make_user(role, password=PASSWORD))
        for path in ("/billing/cards", "/billing/membership", "/billing/invoices"):
            assert client.get(path).status_code == 403


def test_a_setup_return_for_another_customers_session_is_not_found(
    app: Flask, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_user(Role.MENTEE, "other@example.com", password=PASSWORD)
    other.stripe_customer_id = "cus_other"
    db.session.commit()
    session = {
        "id": "cs_test_owner",
        "object": "checkout.session",
        "mode": "setup",
        "status": "complete",
        "customer": "cus_owner",
        "setup_intent": {"id": "seti_1", "status": "succeeded", "payment_method": "pm_new"},
    }
    monkeypatch.setattr(checkout_gateway, "retrieve_session", lambda _id: session)
    client = app.test_client()
    login(client, other)
    assert client.get("/billing/cards/saved?session_id=cs_test_owner").status_code == 404
    assert db.session.scalars(db.select(PaymentMethod)).all()[0].stripe_payment_method_id == (
        "pm_owner"
    )
