"""Money rules: exact amounts, Stripe's minor units, the platform fee and refund splits.

What this module promises:

- Money is a ``Decimal`` with an upper-case ISO currency code beside it. Making an amount from
  a ``float`` raises ``TypeError``; ints, Decimals and numeric strings are accepted.
- Every currency has Stripe's exponent: zero-decimal currencies (JPY, KRW, ...) have none,
  three-decimal ones (BHD, JOD, KWD, OMR, TND) have three, everything else two. Stripe also
  insists that a three-decimal amount in minor units is a multiple of ten, and that an ISK
  amount (two decimals in the API) is a whole number of krónur; that multiple is the
  currency's *step*, and an amount that is not a whole number of steps is refused
  (``AmountTooPrecise``) rather than silently rounded. Only ``round_half_up`` rounds.
- ``to_minor_units`` / ``from_minor_units`` convert exactly, in integer arithmetic.
- ``split_fee``: the platform fee is ``round_half_up(price * percentage / 100)`` and the coach
  gets ``price - fee``, so the two always add up to the price.
- ``split_refund`` reverses fee and share in proportion, the two parts adding up to the refund,
  and partial refunds that add up to the price reverse exactly the original fee and share.
- ``check_chargeable`` refuses amounts below Stripe's minimum charge or above its 8-digit
  maximum with a message a person can act on.

Source: Stripe's "Supported currencies" guide (zero-decimal and three-decimal currencies,
special cases, minimum and maximum charge amounts). This module imports nothing from the portal
or from Flask, so any layer may use it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import NamedTuple

AmountLike = Decimal | int | str

ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

# Minor units per step, where Stripe wants more than one: three-decimal amounts must end in 0,
# and ISK, zero-decimal in practice, is sent as two-decimal in whole krónur.
_STEP_MINOR_UNITS = {code: 10 for code in THREE_DECIMAL_CURRENCIES} | {"ISK": 100}

MAXIMUM_MINOR_UNITS = 99_999_999  # Stripe: "up to eight digits"

# Stripe's published minimum charge amounts, in major units.
_MINIMUM_CHARGES = {
    code: Decimal(amount)
    for code, amount in {
        "USD": "0.50",
        "AED": "2.00",
        "AUD": "0.50",
        "BGN": "1.00",
        "BRL": "0.50",
        "CAD": "0.50",
        "CHF": "0.50",
        "CZK": "15.00",
        "DKK": "2.50",
        "EUR": "0.50",
        "GBP": "0.30",
        "HKD": "4.00",
        "HUF": "175.00",
        "INR": "0.50",
        "JPY": "50",
        "MXN": "10.00",
        "MYR": "2.00",
        "NOK": "3.00",
        "NZD": "0.50",
        "PLN": "2.00",
        "RON": "2.00",
        "SEK": "3.00",
        "SGD": "0.50",
        "THB": "10.00",
    }.items()
}

_SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CAD": "CA$",
    "AUD": "A$",
    "NZD": "NZ$",
    "INR": "₹",
    "KRW": "₩",
}

_CURRENCY_CODE = re.compile(r"[A-Za-z]{3}")


class MoneyError(ValueError):
    """An amount or currency the portal cannot use; the message says what to change."""


class InvalidCurrency(MoneyError):
    """Not a three-letter ISO currency code."""


class AmountTooPrecise(MoneyError):
    """More decimal places than the currency (or Stripe) allows."""


class RefundExceedsCharge(MoneyError):
    """A refund that would take back more than was paid."""


class ChargeLimitError(MoneyError):
    """An amount outside Stripe's charge limits; carries the amount and the limit broken."""

    def __init__(self, message: str, amount: Decimal, limit: Decimal, currency: str) -> None:
        super().__init__(message)
        self.amount = amount
        self.limit = limit
        self.currency = currency


class AmountBelowMinimum(ChargeLimitError):
    """Below Stripe's minimum charge for the currency."""


class AmountAboveMaximum(ChargeLimitError):
    """Above Stripe's maximum charge (99,999,999 minor units)."""


class FeeSplit(NamedTuple):
    """A price cut into the platform's fee and the coach's share; fee + share == price."""

    price: Decimal
    platform_fee: Decimal
    coach_share: Decimal


class RefundSplit(NamedTuple):
    """One refund cut into the fee handed back and the coach's share reversed."""

    platform_fee_refunded: Decimal
    coach_share_reversed: Decimal


# --- values -------------------------------------------------------------------------------


def to_decimal(value: AmountLike) -> Decimal:
    """Return ``value`` as an exact ``Decimal``; a ``float`` is a ``TypeError``."""
    if isinstance(value, float):
        raise TypeError(f"Money cannot be made from a float ({value!r}): use Decimal('{value}').")
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"Money must be a Decimal, int or numeric string, not {type(value)}.")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise MoneyError(f"{value!r} is not a number; enter an amount such as 12.50.") from None
    # Bounded so that exact integer arithmetic below stays small.
    if not amount.is_finite() or (amount and not -20 <= amount.adjusted() < 16):
        raise MoneyError(f"{value!r} is not a usable amount of money.")
    return amount


def normalise_currency(currency: str) -> str:
    """Return the upper-case ISO code ("usd" -> "USD"); anything else is ``InvalidCurrency``."""
    if not isinstance(currency, str) or not _CURRENCY_CODE.fullmatch(currency):
        raise InvalidCurrency(f"{currency!r} is not a three-letter currency code such as USD.")
    return currency.upper()


def currency_exponent(currency: str) -> int:
    """Decimal places Stripe uses for ``currency``'s minor units: 0, 2 or 3."""
    code = normalise_currency(currency)
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    return 3 if code in THREE_DECIMAL_CURRENCIES else 2


def amount_step(currency: str) -> Decimal:
    """The smallest amount Stripe can charge in ``currency`` (USD 0.01, JPY 1, KWD 0.010)."""
    return from_minor_units(_step(currency), currency)


def _step(currency: str) -> int:
    return _STEP_MINOR_UNITS.get(normalise_currency(currency), 1)


# --- conversion ---------------------------------------------------------------------------


def to_minor_units(amount: AmountLike, currency: str) -> int:
    """Exact Stripe minor units of ``amount``; raises ``AmountTooPrecise`` if it has to round.

    JPY ``Decimal("5000.00")`` (as a NUMERIC(10,2) column holds it) is 5000.
    """
    return _exact_units(to_decimal(amount), currency, _step(currency))


def from_minor_units(units: int, currency: str) -> Decimal:
    """The exact ``Decimal`` for Stripe minor units, written with the currency's exponent.

    1234 USD -> 12.34, 5000 JPY -> 5000, 1230 KWD -> 1.230.
    """
    if isinstance(units, bool) or not isinstance(units, int):
        raise TypeError(f"Minor units must be an int, not {type(units)}.")
    return Decimal(f"{units}E-{currency_exponent(currency)}")


def round_half_up(amount: AmountLike, currency: str) -> Decimal:
    """``amount`` rounded half-up (away from zero) to a whole number of the currency's steps."""
    numerator, denominator = _units_ratio(to_decimal(amount), currency)
    step = _step(currency)
    return from_minor_units(_divide_half_up(numerator, denominator * step) * step, currency)


def _units_ratio(amount: Decimal, currency: str) -> tuple[int, int]:
    """``amount`` in minor units as an exact fraction (numerator, positive denominator)."""
    numerator, denominator = amount.as_integer_ratio()
    return numerator * 10 ** currency_exponent(currency), denominator


def _exact_units(amount: Decimal, currency: str, step: int) -> int:
    numerator, denominator = _units_ratio(amount, currency)
    if numerator % (denominator * step):
        raise AmountTooPrecise(
            f"{amount} {normalise_currency(currency)} has more decimal places than the currency "
            f"allows (steps of {from_minor_units(step, currency)}); round it first."
        )
    return numerator // denominator


def _divide_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero; ``denominator`` > 0."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return -quotient if numerator < 0 else quotient


# --- fee and refund splits ----------------------------------------------------------------


def split_fee(price: AmountLike, fee_percentage: AmountLike, currency: str) -> FeeSplit:
    """Cut ``price`` into the platform fee (percentage, rounded half-up) and the coach's share.

    ``fee_percentage`` is 0..100 (20 means 20%); the fee never exceeds the price, so the coach's
    share is never negative, and fee + share == price exactly.
    """
    price_units = _non_negative_units(price, currency, "A price")
    percentage = to_decimal(fee_percentage)
    if not 0 <= percentage <= 100:
        raise MoneyError(f"The platform fee must be between 0% and 100%, not {percentage}%.")
    numerator, denominator = percentage.as_integer_ratio()
    step = _step(currency)
    fee_units = _divide_half_up(price_units * numerator, 100 * denominator * step) * step
    return _fee_split(price_units, fee_units, currency)


def split_refund(
    refund_amount: AmountLike,
    original: FeeSplit,
    currency: str,
    already_refunded: AmountLike = 0,
) -> RefundSplit:
    """Cut a refund into the platform fee refunded and the coach's share reversed.

    The rule: after refunding a cumulative amount R of price P, the fee refunded so far is
    ``round_half_up(fee * R / P)`` and the share reversed so far is ``R`` minus that. This
    refund gets the difference between the totals after it and before it (``already_refunded``
    is what earlier refunds of the same payment added up to). So the two parts always add up
    to the refund, neither is negative, and when the refunds reach the whole price they have
    given back exactly the original fee and share: never more, whatever the partial amounts.
    """
    price_units = _checked_original_units(original, currency)
    before = _non_negative_units(already_refunded, currency, "The amount already refunded")
    refund = _non_negative_units(refund_amount, currency, "A refund")
    if refund == 0:
        raise MoneyError("A refund must be more than zero.")
    if before + refund > price_units:
        left = from_minor_units(price_units - before, currency)
        raise RefundExceedsCharge(
            f"The refund is more than what is left to refund; refund at most "
            f"{describe_money(left, currency)}."
        )
    fee_units = to_minor_units(original.platform_fee, currency)
    fee_refunded = _fee_refunded_by(before + refund, fee_units, price_units, currency)
    fee_refunded -= _fee_refunded_by(before, fee_units, price_units, currency)
    return RefundSplit(
        from_minor_units(fee_refunded, currency), from_minor_units(refund - fee_refunded, currency)
    )


def _fee_refunded_by(refunded: int, fee: int, price: int, currency: str) -> int:
    """Total fee handed back once ``refunded`` of ``price`` is refunded (all in minor units)."""
    step = _step(currency)
    return _divide_half_up(fee * refunded, price * step) * step


def _checked_original_units(original: FeeSplit, currency: str) -> int:
    price_units = to_minor_units(original.price, currency)
    fee_units = to_minor_units(original.platform_fee, currency)
    share_units = to_minor_units(original.coach_share, currency)
    if fee_units < 0 or share_units < 0 or fee_units + share_units != price_units:
        raise MoneyError(f"{original} is not a fee split: fee and share must add up to the price.")
    return price_units


def _non_negative_units(amount: AmountLike, currency: str, what: str) -> int:
    units = to_minor_units(amount, currency)
    if units < 0:
        raise MoneyError(f"{what} cannot be negative ({amount} {normalise_currency(currency)}).")
    return units


def _fee_split(price_units: int, fee_units: int, currency: str) -> FeeSplit:
    return FeeSplit(
        from_minor_units(price_units, currency),
        from_minor_units(fee_units, currency),
        from_minor_units(price_units - fee_units, currency),
    )


# --- Stripe's limits ----------------------------------------------------------------------


def minimum_charge(currency: str) -> Decimal:
    """Stripe's minimum charge for ``currency``.

    For currencies Stripe does not list, its rule is "USD 0.50 or the equivalent", which needs a
    rate this module does not have: the fallback (0.50, or 50 of a zero-decimal currency) is a
    floor, and Stripe may still refuse a small charge (``amount_too_small``).
    """
    code = normalise_currency(currency)
    fallback = Decimal(50) if code in ZERO_DECIMAL_CURRENCIES else Decimal("0.50")
    return round_half_up(_MINIMUM_CHARGES.get(code, fallback), code)


def maximum_charge(currency: str) -> Decimal:
    """The largest amount Stripe can charge in ``currency``: eight digits of minor units."""
    step = _step(currency)
    return from_minor_units(MAXIMUM_MINOR_UNITS // step * step, currency)


def check_chargeable(amount: AmountLike, currency: str) -> None:
    """Raise unless Stripe can charge ``amount`` in ``currency``.

    ``AmountTooPrecise`` for too many decimals, ``AmountBelowMinimum`` under Stripe's minimum
    charge, ``AmountAboveMaximum`` over 99,999,999 minor units.
    """
    code = normalise_currency(currency)
    value = to_decimal(amount)
    units = to_minor_units(value, code)
    floor = minimum_charge(code)
    if units < to_minor_units(floor, code):
        raise AmountBelowMinimum(
            f"The amount {describe_money(value, code)} is below Stripe's minimum charge of "
            f"{describe_money(floor, code)}. Set an amount of at least that.",
            value,
            floor,
            code,
        )
    if units > MAXIMUM_MINOR_UNITS:
        ceiling = maximum_charge(code)
        raise AmountAboveMaximum(
            f"The amount {describe_money(value, code)} is above Stripe's maximum charge of "
            f"{describe_money(ceiling, code)}. Charge it in smaller payments.",
            value,
            ceiling,
            code,
        )


# --- display ------------------------------------------------------------------------------


def format_money(amount: AmountLike, currency: str) -> str:
    """Display text: "$1,234.50", "¥5,000", "€12.00", "KWD 1.230"; no locale involved.

    Written with the currency's exponent; an amount with more decimals than that is refused.
    """
    code, places, prefix = _written_as(currency)
    value = to_decimal(amount)
    if value.as_tuple().exponent < -places:  # more digits written than the currency has:
        _exact_units(value, code, 1)  # refused unless each of them is a zero
    text = f"{prefix}{abs(value):,.{places}f}"
    return f"-{text}" if value < 0 else text


@cache
def _written_as(currency: str) -> tuple[str, int, str]:
    """How an amount in `currency` is written: its code, its decimal places, and what comes
    before it. Kept per code as given: a page formats a hundred amounts in a few currencies."""
    code = normalise_currency(currency)
    return code, currency_exponent(code), _SYMBOLS.get(code) or f"{code} "


def describe_money(amount: AmountLike, currency: str) -> str:
    """``format_money`` with the code added where a symbol could be ambiguous: "$0.50 USD"."""
    code = normalise_currency(currency)
    text = format_money(amount, code)
    return text if code in text else f"{text} {code}"
