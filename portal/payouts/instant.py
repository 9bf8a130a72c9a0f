"""What an instant payout will cost and bring, shown before the coach confirms.

Stripe takes an instant payout's fee from the balance beside the amount paid out, so paying out
"everything" instantly means the largest amount whose fee still fits in the available balance.
Stripe publishes its fee (a percentage with a minimum) but has no call that quotes it; the
preview uses the platform's copy of that pricing (`INSTANT_PAYOUT_FEE_PERCENT`,
`INSTANT_PAYOUT_FEE_MINIMUM`), and the ledger records the fee Stripe reports on the payout's
balance transaction, never this preview (DESIGN rule 7). Pure: no database, no Stripe.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from portal.money import (
    amount_step,
    currency_exponent,
    from_minor_units,
    round_half_up,
    to_minor_units,
)

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class InstantPreview:
    """`arrives` reaches the coach's card; `fee` is Stripe's; together at most `available`."""

    available: Decimal
    arrives: Decimal
    fee: Decimal
    currency: str


def fee_for(amount: Decimal, currency: str, percent: Decimal, minimum: Decimal) -> Decimal:
    """Stripe's instant fee on `amount`: `percent` of it rounded half up, at least `minimum`
    (which applies to currencies with minor units only)."""
    floor = minimum if currency_exponent(currency) > 0 else ZERO
    return max(round_half_up(amount * percent / 100, currency), floor)


def preview(
    available: Decimal, currency: str, percent: Decimal, minimum: Decimal
) -> InstantPreview:
    """The most that can arrive instantly from `available`, and Stripe's fee for it."""
    units = to_minor_units(available, currency)

    def fits(amount_units: int) -> bool:
        amount = from_minor_units(amount_units, currency)
        return (
            amount_units + to_minor_units(fee_for(amount, currency, percent, minimum), currency)
            <= units
        )

    # Start from available / (1 + percent) and step to the exact edge: rounding moves it a unit.
    step = to_minor_units(amount_step(currency), currency)
    guess = int(units * 100 / (100 + percent)) // step * step if units > 0 else 0
    arrives = max(min(guess, units), 0)
    while arrives > 0 and not fits(arrives):
        arrives -= step
    while arrives + step <= units and fits(arrives + step):
        arrives += step
    amount = from_minor_units(arrives, currency)
    fee = fee_for(amount, currency, percent, minimum) if arrives > 0 else ZERO
    return InstantPreview(available=available, arrives=amount, fee=fee, currency=currency)
