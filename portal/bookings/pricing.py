"""A booking's one quote: list price, member discount, platform fee, coach's share, currency.

What this module promises:

- `quote_for(profile, mentee)` is the one place a session's amounts are decided. The coach's
  page shows it, `hold.hold_slot` stores it on the booking, and the payment's transaction copies
  it from there. Stripe's metadata carries the booking's id, never an amount to trust.

- A mentee whose membership is `active` or `trialing` gets `MEMBERSHIP_DISCOUNT_PERCENTAGE` off
  a session's list price, rounded half-up to the currency's step.
- The discount comes out of the platform fee: the coach's share never changes, and the discount
  is capped at the fee, so the fee never goes below zero. Price, fee and share still add up.
- `discount_meta(booking)` is the discount as the payment's transaction records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app

from portal.models import Booking, CoachProfile, Subscription, User
from portal.money import FeeSplit, round_half_up, split_fee, to_decimal


@dataclass(frozen=True)
class Quote:
    """What a session costs this mentee: the list price, the discount, the split charged."""

    list_price: Decimal
    discount: Decimal
    percentage: Decimal
    split: FeeSplit
    currency: str

    @property
    def price(self) -> Decimal:
        return self.split.price

    @property
    def discounted(self) -> bool:
        return self.discount > 0


def is_member(user: User | Any) -> bool:
    """Whether `user` (anyone, signed in or not) holds a membership that gives the discount."""
    if not isinstance(user, User):
        return False
    subscription: Subscription | None = user.platform_subscription
    return subscription is not None and subscription.makes_member


def discount_percentage() -> Decimal:
    """The configured member discount, 0..100."""
    try:
        value = to_decimal(str(current_app.config["MEMBERSHIP_DISCOUNT_PERCENTAGE"]))
    except (InvalidOperation, ValueError, TypeError):
        return Decimal("0")
    return min(max(value, Decimal("0")), Decimal("100"))


def apply_discount(list_split: FeeSplit, percentage: Decimal, currency: str) -> FeeSplit:
    """`list_split` less `percentage` of its price, taken from the fee (never below zero)."""
    wanted = round_half_up(list_split.price * percentage / Decimal(100), currency)
    discount = min(wanted, list_split.platform_fee)
    return FeeSplit(
        list_split.price - discount, list_split.platform_fee - discount, list_split.coach_share
    )


def percentage_for(mentee: User | Any) -> Decimal:
    """The discount `mentee` (anyone: a visitor gets none) has off every list price."""
    return discount_percentage() if is_member(mentee) else Decimal(0)


def quote(list_split: FeeSplit, mentee: User | None, currency: str) -> Quote:
    """The price `mentee` pays for a session whose list split is `list_split`."""
    return quote_at(list_split, percentage_for(mentee), currency)


def quote_at(list_split: FeeSplit, percentage: Decimal, currency: str) -> Quote:
    """The price for a session whose list split is `list_split`, `percentage` off."""
    split = apply_discount(list_split, percentage, currency) if percentage else list_split
    return Quote(
        list_price=list_split.price,
        discount=list_split.price - split.price,
        percentage=percentage,
        split=split,
        currency=currency,
    )


def quote_for(profile: CoachProfile, mentee: User | Any) -> Quote:
    """What one session with this coach costs `mentee` (anyone: a visitor pays the list price)."""
    return quote_for_percentage(profile, percentage_for(mentee))


def quote_for_percentage(profile: CoachProfile, percentage: Decimal) -> Quote:
    """What one session with this coach costs someone with `percentage` off list prices."""
    list_split = split_fee(profile.session_price, profile.platform_fee_percentage, profile.currency)
    return quote_at(list_split, percentage, profile.currency)


def discount_meta(booking: Booking | Any) -> dict[str, str]:
    """The member discount the booking was held at, as its payment's transaction records it.

    `booking` is the booking or a row with its amount columns.
    """
    if not booking.discount_amount:
        return {}
    return {
        "list_price": str(booking.price_amount + booking.discount_amount),
        "member_discount": str(booking.discount_amount),
        "member_discount_percentage": format(booking.discount_percentage.normalize(), "f"),
    }
