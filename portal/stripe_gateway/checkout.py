"""Checkout Sessions: a booking's create (idempotent per booking) and expire, and the one
retrieve that every mode's return page and webhook reads (a membership's and a card's sessions
are created in `billing`).

Everything comes back as plain dicts. The create call's parameters are derived from the booking
alone (its expiry too), so a retry with the same idempotency key sends the same request and
Stripe hands back the same session instead of refusing the key.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from portal.models import Booking
from portal.money import to_minor_units
from portal.stripe_gateway import call, client, idempotency_key, to_plain

# Stripe's shortest allowed lifetime is 30 minutes from creation; one more minute of margin
# covers the time between the booking row and the call to Stripe.
CHECKOUT_LIFETIME = timedelta(minutes=31)
SESSION_EXPANSIONS = [
    "payment_intent",
    "payment_intent.latest_charge",
    "setup_intent",
    "subscription",
]


def booking_session_params(
    booking: Booking,
    *,
    customer_id: str,
    destination_account: str,
    product_name: str,
    success_url: str,
    cancel_url: str,
    save_card: bool = False,
) -> dict[str, Any]:
    """The Checkout Session request for `booking`: a destination charge to the coach.

    `save_card` keeps the card on the customer for off-session use later. The metadata names
    the booking only: its amounts are the booking's, never read back from Stripe.
    """
    currency = booking.currency
    booking_ref = str(booking.id)
    params: dict[str, Any] = {
        "mode": "payment",
        "customer": customer_id,
        "client_reference_id": booking_ref,
        "metadata": {"booking_id": booking_ref},
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": to_minor_units(booking.price_amount, currency),
                    "product_data": {"name": product_name},
                },
            }
        ],
        "payment_intent_data": {
            "application_fee_amount": to_minor_units(booking.platform_fee_amount, currency),
            "transfer_data": {"destination": destination_account},
            "metadata": {"booking_id": booking_ref},
        },
        "success_url": success_url,
        "cancel_url": cancel_url,
        "expires_at": int((booking.created_at + CHECKOUT_LIFETIME).timestamp()),
    }
    if save_card:
        params["payment_intent_data"]["setup_future_usage"] = "off_session"
    return params


def create_booking_session(booking: Booking, **details: Any) -> dict[str, Any]:
    """Create the Checkout Session for `booking` (see `booking_session_params` for details)."""
    session = call(
        "checkout.sessions.create",
        client().v1.checkout.sessions.create,
        params=booking_session_params(booking, **details),
        options={"idempotency_key": idempotency_key("booking-checkout", booking)},
    )
    return to_plain(session)


def retrieve_session(session_id: str) -> dict[str, Any]:
    """A Checkout Session of any mode, with what it made expanded: a booking's PaymentIntent
    and that intent's charge, a saved card's SetupIntent, a membership's subscription (each
    null in the modes that do not make it)."""
    session = call(
        "checkout.sessions.retrieve",
        client().v1.checkout.sessions.retrieve,
        session_id,
        params={"expand": SESSION_EXPANSIONS},
    )
    return to_plain(session)


def expire_session(session_id: str) -> dict[str, Any]:
    """Expire an open Checkout Session so it can no longer be paid."""
    session = call(
        "checkout.sessions.expire",
        client().v1.checkout.sessions.expire,
        session_id,
        options={"idempotency_key": f"checkout-expire:{session_id}"},
    )
    return to_plain(session)
