"""The member discount on session prices: how much, out of what, and how it is recorded.

What this module promises:

- A mentee whose membership is `active` or `trialing` gets `MEMBERSHIP_DISCOUNT_PERCENTAGE` off
  a session's list price, rounded half-up to the currency's step.
- The discount comes out of the platform fee: the coach's share never changes, and the discount
  is capped at the fee, so the fee never goes below zero. Price, fee and share still add up.
- `Quote` carries the list price, the discount and the resulting split, for showing before
  paying; `Quote.metadata()` is what goes on the Stripe payment and `transaction_meta` turns it
  back into what is recorded on the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app

from portal.models import Subscription, SubscriptionStatus, User
from portal.money import FeeSplit, round_half_up, to_decimal

MEMBER_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)


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

    def metadata(self) -> dict[str, str]:
        """Stripe metadata naming the discount (empty without one)."""
        if not self.discounted:
            return {}
        return {
            "list_price": str(self.list_price),
            "member_discount": str(self.discount),
            "member_discount_percentage": str(self.percentage),
        }


def is_member(user: User | Any) -> bool:
    """Whether `user` (anyone, signed in or not) holds a membership that gives the discount."""
    if not isinstance(user, User):
        return False
    subscription: Subscription | None = user.platform_subscription
    return subscription is not None and subscription.status in MEMBER_STATUSES


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


def quote(list_split: FeeSplit, mentee: User | None, currency: str) -> Quote:
    """The price `mentee` pays for a session whose list split is `list_split`."""
    percentage = discount_percentage() if is_member(mentee) else Decimal(0)
    split = apply_discount(list_split, percentage, currency) if percentage else list_split
    return Quote(
        list_price=list_split.price,
        discount=list_split.price - split.price,
        percentage=percentage,
        split=split,
        currency=currency,
    )


def transaction_meta(stripe_metadata: dict[str, Any] | None) -> dict[str, str]:
    """The discount as recorded on a transaction's `meta`, from the payment's Stripe metadata."""
    metadata = stripe_metadata or {}
    if "member_discount" not in metadata:
        return {}
    return {
        "member_discount": str(metadata["member_discount"]),
        "member_discount_percentage": str(metadata.get("member_discount_percentage", "")),
        "list_price": str(metadata.get("list_price", "")),
    }
