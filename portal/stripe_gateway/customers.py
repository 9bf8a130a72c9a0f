"""Stripe customers for mentees: made on first need, one per user.

`ensure_customer(user)` returns the user's Stripe customer id, creating the customer the first
time it is needed. The create call's idempotency key names the user, so two requests racing to
make the first customer get the same Stripe object back, and the id is stored on the user.
"""

from __future__ import annotations

from typing import Any

from portal.extensions import db
from portal.models import User
from portal.stripe_gateway import call, client, idempotency_key, to_plain


def create_customer(user: User) -> dict[str, Any]:
    """Create the Stripe customer for `user` (idempotent per user); a plain dict."""
    params: dict[str, Any] = {
        "email": user.email,
        "name": user.name,
        "metadata": {"user_id": str(user.id)},
    }
    customer = call(
        "customers.create",
        client().v1.customers.create,
        params=params,
        options={"idempotency_key": idempotency_key("customer", user)},
    )
    return to_plain(customer)


def ensure_customer(user: User) -> str:
    """The user's Stripe customer id, created (and stored, flushed) on first need."""
    if user.stripe_customer_id:
        return user.stripe_customer_id
    customer = create_customer(user)
    user.stripe_customer_id = customer["id"]
    db.session.flush()
    return customer["id"]
