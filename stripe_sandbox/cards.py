"""Stripe's test cards and what each one does.

Promises: a card number is used only to decide a `Behaviour` and to derive brand, last4 and a
fingerprint; it is never stored. `attach_outcome` and `charge_outcome` say what happens when a
card is saved or charged, as Stripe's test cards do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from .errors import StripeError, card_error


class Behaviour(StrEnum):
    SUCCEED = "succeed"
    DECLINE = "decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    DISPUTE = "dispute"
    AUTHENTICATION_REQUIRED = "authentication_required"
    DECLINE_ON_CHARGE = "decline_on_charge"


SPECIAL_NUMBERS = {
    "4000000000000002": Behaviour.DECLINE,
    "4000000000009995": Behaviour.INSUFFICIENT_FUNDS,
    "4000000000000259": Behaviour.DISPUTE,
    "4000002500003155": Behaviour.AUTHENTICATION_REQUIRED,
    "4000000000000341": Behaviour.DECLINE_ON_CHARGE,
}

TEST_TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_authenticationRequired": "4000002500003155",
    "pm_card_createDispute": "4000000000000259",
    "pm_card_chargeCustomerFail": "4000000000000341",
}


@dataclass(frozen=True)
class CardDetails:
    brand: str
    last4: str
    fingerprint: str
    behaviour: Behaviour


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number.startswith(("6011", "65")):
        return "discover"
    return "unknown"


def inspect(number: str) -> CardDetails:
    """Brand, last4, fingerprint and behaviour of a number, or Stripe's incorrect_number error."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if not luhn_ok(digits):
        raise card_error("incorrect_number", "Your card number is incorrect.", param="number")
    fingerprint = hashlib.sha256(b"sandbox-card:" + digits.encode()).hexdigest()[:16]
    return CardDetails(
        brand=brand_of(digits),
        last4=digits[-4:],
        fingerprint=fingerprint,
        behaviour=SPECIAL_NUMBERS.get(digits, Behaviour.SUCCEED),
    )


def decline(behaviour: Behaviour) -> StripeError | None:
    """The error charging or saving a card with this behaviour gives, if it always declines."""
    if behaviour in (Behaviour.DECLINE, Behaviour.DECLINE_ON_CHARGE):
        return card_error(
            "card_declined", "Your card was declined.", decline_code="generic_decline"
        )
    if behaviour is Behaviour.INSUFFICIENT_FUNDS:
        return card_error(
            "card_declined", "Your card has insufficient funds.", decline_code="insufficient_funds"
        )
    return None


def attach_outcome(behaviour: Behaviour) -> StripeError | None:
    """Saving a card: only 0341 (and the plain good cards) save fine among the declining ones."""
    if behaviour is Behaviour.DECLINE_ON_CHARGE:
        return None
    return decline(behaviour)


AUTHENTICATION_REQUIRED_MESSAGE = (
    "Your card was declined. This transaction requires authentication."
)


def charge_outcome(
    behaviour: Behaviour, *, off_session: bool, authenticated: bool
) -> str | StripeError:
    """'succeeded', 'requires_action', or the card error a charge produces."""
    error = decline(behaviour)
    if error is not None:
        return error
    if behaviour is Behaviour.AUTHENTICATION_REQUIRED and not authenticated:
        if off_session:
            return card_error(
                "authentication_required",
                AUTHENTICATION_REQUIRED_MESSAGE,
                decline_code="authentication_required",
            )
        return "requires_action"
    return "succeeded"
