"""Paying a held booking in one click with the mentee's default card.

What this module promises:

- The charge is a PaymentIntent confirmed off-session with the saved card: the same destination
  charge and application fee as the booking's Checkout, with the booking's idempotency key, so a
  double click charges once.
- A successful charge goes through the same fulfilment as Checkout
  (`fulfilment.fulfil_payment_intent`, the function `payment_intent.succeeded` calls), so the
  booking, its one transaction and the ledger change exactly as after Checkout.
- When the card is declined or its bank wants the mentee to authenticate, nothing was charged:
  `SavedCardFailed` carries a message, and the booking is still held for Checkout.
- When Stripe cannot be reached, the booking is released (its slot free) and
  `SavedCardUnavailable` says so.

Services add and flush; the view commits.
"""

from __future__ import annotations

from typing import Any

from portal.billing import cards
from portal.bookings import fulfilment
from portal.bookings.hold import (
    bookable_destination,
    product_name,
    released_for,
)
from portal.errors import PortalError
from portal.models import Booking, PaymentMethod, User
from portal.stripe_gateway import CardDeclined, GatewayError
from portal.stripe_gateway import billing as gateway
from portal.stripe_gateway import customers as customers_gateway


class SavedCardError(PortalError):
    """The saved card was not charged; `message` says what to do instead."""


class SavedCardFailed(SavedCardError):
    """Declined or needs authentication; the booking is still held, Checkout can take over."""

    def __init__(self, message: str, *, needs_authentication: bool) -> None:
        super().__init__(message)
        self.needs_authentication = needs_authentication


class SavedCardUnavailable(SavedCardError):
    """Stripe could not be asked; the booking was released."""


class NoSavedCard(SavedCardError):
    def __init__(self) -> None:
        super().__init__("You have no saved card. Pay on the secure payment page instead.")


def default_card_of(user: User | Any) -> PaymentMethod | None:
    """The card a one-click payment would use: the default, if the mentee chose to keep it
    (none for a visitor, and none for a card kept only for the membership)."""
    card = cards.default_card(user) if isinstance(user, User) else None
    return card if card is not None and card.chosen else None


def pay_with_default_card(booking: Booking) -> Booking:
    """Charge the held `booking` to the mentee's default card and fulfil it."""
    card = default_card_of(booking.mentee)
    if card is None:
        raise NoSavedCard()
    destination = bookable_destination(booking)
    try:
        customer_id = customers_gateway.ensure_customer(booking.mentee)
        intent = gateway.charge_saved_card(
            booking,
            customer_id=customer_id,
            payment_method_id=card.stripe_payment_method_id,
            destination_account=destination,
            description=product_name(booking),
        )
    except CardDeclined as exc:
        raise SavedCardFailed(
            _fallback_message(card, exc), needs_authentication=_needs_authentication(exc)
        ) from exc
    except GatewayError as exc:
        raise released_for(booking, exc, SavedCardUnavailable) from exc
    if intent.get("status") != "succeeded":
        # Off-session confirmation that still wants the mentee: the same as a decline for us.
        raise SavedCardFailed(
            f"Your bank wants to confirm this payment with you. Continue on the secure payment "
            f"page; your {card.brand.title()} ending {card.last4} was not charged.",
            needs_authentication=True,
        )
    paid = fulfilment.fulfil_payment_intent(intent)
    assert paid == booking.id
    return booking


def _needs_authentication(exc: CardDeclined) -> bool:
    return "authentication_required" in (exc.code, exc.decline_code)


def _fallback_message(card: PaymentMethod, exc: CardDeclined) -> str:
    name = f"{card.brand.title()} ending {card.last4}"
    if _needs_authentication(exc):
        return (
            f"Your bank wants to confirm this payment with you, so your {name} was not charged. "
            "Continue on the secure payment page to confirm it there."
        )
    return (
        f"Your {name} was declined ({exc.message}) and nothing was charged. "
        "Continue on the secure payment page with another card."
    )
