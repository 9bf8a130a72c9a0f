"""Releasing holds nobody paid for, without waiting for Stripe's `checkout.session.expired`.

What `release_expired_holds()` promises:

- A booking still awaiting payment whose Checkout has outlived `CHECKOUT_LIFETIME` (Stripe
  expires it then) is settled the way the mentee leaving Checkout is (`abandon_checkout`):
  Stripe is asked to expire the session, and if it was paid meanwhile the payment wins and the
  booking is fulfilled instead. A hold whose Checkout was never made is simply released.
- A booking whose payment is processing (a completed Checkout with a delayed payment method)
  is left alone: its Checkout did not expire.
- Each booking commits on its own, so Stripe failing for one never keeps another's slot held.
  Running it again finds nothing left to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from portal.bookings.fulfilment import abandon_checkout
from portal.bookings.hold import booking_for
from portal.extensions import db
from portal.models import Booking, PaymentStatus, SessionStatus, utcnow
from portal.stripe_gateway import GatewayError
from portal.stripe_gateway.checkout import CHECKOUT_LIFETIME

logger = logging.getLogger("portal.bookings.expired_holds")

_UNPAID = (PaymentStatus.PENDING, PaymentStatus.FAILED)


@dataclass
class ReleasedHolds:
    released: int = 0
    paid: int = 0
    failed: int = 0

    def summary(self) -> str:
        return f"{self.released} hold(s) released, {self.paid} found paid, {self.failed} failed."


def release_expired_holds(now: datetime | None = None) -> ReleasedHolds:
    """Settle every unpaid hold whose Checkout has expired; commits each one."""
    cutoff = (now or utcnow()) - CHECKOUT_LIFETIME
    expired = db.session.scalars(
        sa.select(Booking.id)
        .where(
            Booking.status == SessionStatus.PENDING_PAYMENT,
            Booking.payment_status.in_(_UNPAID),
            Booking.created_at <= cutoff,
        )
        .order_by(Booking.id)
    ).all()
    db.session.rollback()
    outcome = ReleasedHolds()
    for booking_id in expired:
        booking = booking_for(booking_id)
        if booking is None or booking.status is not SessionStatus.PENDING_PAYMENT:
            continue
        try:
            booking = abandon_checkout(booking)
            db.session.commit()
        except GatewayError as exc:
            db.session.rollback()
            outcome.failed += 1
            logger.warning("Hold of booking %s not released: %s", booking_id, exc.message)
            continue
        if booking.status is SessionStatus.CANCELED:
            outcome.released += 1
        else:
            outcome.paid += 1
    return outcome
