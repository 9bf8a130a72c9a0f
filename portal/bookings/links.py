"""The links Stripe's Checkout sends a mentee back to after a booking's payment page.

The cancel link changes state (it releases the held time), and Stripe can only follow it with a
GET, so it carries a token only the portal can make: a link from elsewhere cannot end someone's
booking.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app, url_for

from portal.extensions import db
from portal.models import AvailabilitySlot, Booking


def cancel_token(booking: Booking) -> str:
    """Deterministic for the booking (a retried Checkout call sends the same parameters)."""
    message = f"checkout-cancel:{booking.id}:{int(booking.created_at.timestamp())}"
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()[:32]


def is_cancel_token_valid(booking: Booking, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(cancel_token(booking), token)


def checkout_urls(booking: Booking) -> dict[str, str]:
    """`success_url` and `cancel_url` for the booking's Checkout Session."""
    return {
        "success_url": url_for("coaches.checkout_return", _external=True)
        + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": url_for(
            "coaches.checkout_canceled",
            booking_id=booking.id,
            token=cancel_token(booking),
            _external=True,
        ),
    }


def coach_page_of_slot(slot_id: int) -> str:
    """Where a mentee goes back to after a booking attempt on a slot: its coach's page."""
    slot = db.session.get(AvailabilitySlot, slot_id)
    if slot is None:
        return url_for("coaches.directory")
    return url_for("coaches.coach_page", coach_id=slot.coach_id)
