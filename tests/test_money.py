"""Tests for portal.money: exact amounts, Stripe's minor units and limits, fee and refund splits."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.money import (
    AmountAboveMaximum,
    AmountBelowMinimum,
    AmountTooPrecise,
    FeeSplit,
    InvalidCurrency,
    MoneyError,
    RefundExceedsCharge,
    amount_step,
    check_chargeable,
    currency_exponent,
    format_money,
    from_minor_units,
    maximum_charge,
    minimum_charge,
    normalise_currency,
    round_half_up,
    split_fee,
    split_refund,
    to_decimal,
    to_minor_units,
)

D = Decimal

# Two-decimal prices 0.50 .. 999,999.99 and percentages 0.00 .. 100.00, as Decimals with 2 places.
prices = st.integers(50, 99_999_999).map(lambda cents: D(cents).scaleb(-2))
percentages = st.integers(0, 10_000).map(lambda hundredths: D(hundredths).scaleb(-2))
currencies = st.sampled_from(["USD", "EUR", "GBP", "JPY", "KRW", "KWD", "BHD", "ISK"])


# --- values and currencies ----------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: to_decimal(0.5),
        lambda: to_minor_units(12.5, "USD"),
        lambda: split_fee(100.0, D(20), "USD"),
        lambda: split_fee(D(100), 20.0, "USD"),
        lambda: round_half_up(1.005, "USD"),
        lambda: check_chargeable(10.0, "USD"),
        lambda: format_money(1.5, "EUR"),
        lambda: from_minor_units(50.0, "USD"),
    ],
)
def test_money_from_a_float_raises_type_error(call):
    with pytest.raises(TypeError, match="float|int"):
        call()


@pytest.mark.parametrize(
    ("value", "amount"), [(D("12.50"), D("12.5")), (12, D(12)), ("12.50", D("12.5")), (" 7 ", D(7))]
)
def test_decimals_ints_and_numeric_strings_make_money(value, amount):
    assert to_decimal(value) == amount


@pytest.mark.parametrize("value", ["twelve", "", "NaN", "Infinity", "1e40", "1e-40"])
def test_non_numbers_and_absurd_amounts_are_refused(value):
    with pytest.raises(MoneyError):
        to_decimal(value)


def test_booleans_are_not_money():
    with pytest.raises(TypeError):
        to_decimal(True)


@pytest.mark.parametrize("code", ["usd", "Usd", "USD"])
def test_currency_codes_are_upper_cased(code):
    assert normalise_currency(code) == "USD"


@pytest.mark.parametrize("code", ["US", "USDX", "U5D", "", "US ", "ÜSD", None, 840])
def test_malformed_currency_codes_are_refused(code):
    with pytest.raises(InvalidCurrency, match="three-letter"):
        normalise_currency(code)


@pytest.mark.parametrize(
    ("currency", "exponent", "step"),
    [
        ("USD", 2, D("0.01")),
        ("eur", 2, D("0.01")),
        ("JPY", 0, D("1")),
        ("KRW", 0, D("1")),
        ("UGX", 0, D("1")),
        ("KWD", 3, D("0.010")),
        ("TND", 3, D("0.010")),
        ("ISK", 2, D("1")),
    ],
)
def test_each_currency_has_stripes_exponent_and_step(currency, exponent, step):
    assert currency_exponent(currency) == exponent
    assert amount_step(currency) == step


# --- minor units --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [
        (D("12.34"), "USD", 1234),
        (D("0.50"), "EUR", 50),
        (D("1234.5"), "gbp", 123450),
        (D("5000"), "JPY", 5000),
        (D("5000.00"), "JPY", 5000),  # as a NUMERIC(10,2) column holds it
        (D("1.230"), "KWD", 1230),
        (D("1.23"), "KWD", 1230),
        (D("2900.00"), "ISK", 290000),
        (D("-12.34"), "USD", -1234),
        (D("0"), "USD", 0),
    ],
)
def test_amounts_convert_to_stripe_minor_units(amount, currency, units):
    assert to_minor_units(amount, currency) == units
    assert from_minor_units(units, currency) == amount


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        (D("1.005"), "USD"),
        (D("5000.50"), "JPY"),
        (D("1.235"), "KWD"),  # Stripe wants three-decimal minor units to end in 0
        (D("2900.50"), "ISK"),
    ],
)
def test_amounts_finer_than_the_currency_allows_are_refused_not_rounded(amount, currency):
    with pytest.raises(AmountTooPrecise, match="round it first"):
        to_minor_units(amount, currency)


@pytest.mark.parametrize(
    ("units", "currency", "text"),
    [(1234, "USD", "12.34"), (5000, "JPY", "5000"), (1230, "KWD", "1.230"), (7, "USD", "0.07")],
)
def test_minor_units_come_back_written_with_the_currency_exponent(units, currency, text):
    assert str(from_minor_units(units, currency)) == text


@given(currency=currencies, steps=st.integers(-(10**10), 10**10))
def test_minor_units_round_trip_exactly(currency, steps):
    units = steps * to_minor_units(amount_step(currency), currency)
    amount = from_minor_units(units, currency)
    assert to_minor_units(amount, currency) == units
    assert from_minor_units(to_minor_units(amount, currency), currency) == amount


@given(price=prices)
def test_two_decimal_prices_round_trip_through_minor_units(price):
    assert from_minor_units(to_minor_units(price, "USD"), "USD") == price


# --- rounding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("1.005", "USD", "1.01"),
        ("1.004", "USD", "1.00"),
        ("-1.005", "USD", "-1.01"),
        ("2.5", "JPY", "3"),
        ("749.5", "JPY", "750"),
        ("1.235", "KWD", "1.240"),
        ("1.234", "KWD", "1.230"),
        ("1.2349", "KWD", "1.230"),
        ("2900.50", "ISK", "2901.00"),
    ],
)
def test_round_half_up_rounds_to_the_currency_step(amount, currency, rounded):
    assert str(round_half_up(amount, currency)) == rounded


@given(currency=currencies, thousandths=st.integers(-(10**9), 10**9))
def test_round_half_up_lands_on_a_chargeable_amount(currency, thousandths):
    rounded = round_half_up(D(thousandths).scaleb(-3), currency)
    units = to_minor_units(rounded, currency)  # would raise if off the currency's step
    assert from_minor_units(units, currency) == rounded


# --- fee split ----------------------------------------------------------------------------


def test_platform_fee_is_the_rounded_percentage_and_the_coach_gets_the_rest():
    assert split_fee(D("100.00"), D("20"), "USD") == FeeSplit(D("100"), D("20"), D("80"))
    assert split_fee(D("10.05"), D("15"), "USD") == FeeSplit(D("10.05"), D("1.51"), D("8.54"))


def test_zero_decimal_fee_split_has_no_fractions():
    split = split_fee(D("5000.00"), D("15"), "JPY")
    assert split == FeeSplit(D("5000"), D("750"), D("4250"))
    assert [to_minor_units(part, "JPY") for part in split] == [5000, 750, 4250]


def test_three_decimal_fee_split_stays_in_multiples_of_ten():
    split = split_fee(D("10.000"), D("12.34"), "KWD")  # 1.234 KWD rounds to 1.230
    assert split == FeeSplit(D("10.000"), D("1.230"), D("8.770"))


@pytest.mark.parametrize("percentage", [D("-0.01"), D("100.01"), D("-5"), D("250")])
def test_fee_percentage_outside_0_to_100_is_refused(percentage):
    with pytest.raises(ValueError, match="between 0% and 100%"):
        split_fee(D("100.00"), percentage, "USD")


@given(price=prices, percentage=percentages)
def test_fee_plus_coach_share_is_always_the_price(price, percentage):
    split = split_fee(price, percentage, "USD")
    assert split.platform_fee + split.coach_share == price == split.price
    assert split.platform_fee >= 0
    assert split.coach_share >= 0
    expected_fee = (price * percentage / 100).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    assert split.platform_fee == expected_fee


@given(currency=currencies, steps=st.integers(0, 10**7), percentage=percentages)
def test_fee_split_in_any_currency_is_chargeable_and_adds_up(currency, steps, percentage):
    price = steps * amount_step(currency)
    split = split_fee(price, percentage, currency)
    units = [to_minor_units(part, currency) for part in split]  # all on the currency's step
    assert units[1] + units[2] == units[0]
    assert min(units) >= 0


# --- refund split -------------------------------------------------------------------------


def test_refund_reverses_coach_share_and_platform_fee_in_proportion():
    original = split_fee(D("100.00"), D("20"), "USD")
    assert split_refund(D("50.00"), original, "USD") == (D("10.00"), D("40.00"))


def test_full_refund_returns_exactly_the_original_fee_and_share():
    original = split_fee(D("10.05"), D("15"), "USD")
    refunded = split_refund(D("10.05"), original, "USD")
    assert refunded == (original.platform_fee, original.coach_share)


def test_three_partial_refunds_of_the_whole_price_reverse_exactly_fee_and_share():
    original = split_fee(D("100.00"), D("15"), "USD")
    parts = [D("33.33"), D("33.33"), D("33.34")]
    already = D(0)
    splits = []
    for part in parts:
        splits.append(split_refund(part, original, "USD", already_refunded=already))
        already += part
    assert splits == [(D("5.00"), D("28.33")), (D("5.00"), D("28.33")), (D("5.00"), D("28.34"))]
    assert sum(share for _, share in splits) == original.coach_share == D("85.00")


def test_refund_beyond_what_is_left_is_refused_with_the_amount_left():
    original = split_fee(D("100.00"), D("20"), "USD")
    with pytest.raises(RefundExceedsCharge, match=r"at most \$40.00 USD"):
        split_refund(D("50.00"), original, "USD", already_refunded=D("60.00"))


@pytest.mark.parametrize("refund", [D("0"), D("-1.00")])
def test_refund_must_be_positive(refund):
    original = split_fee(D("100.00"), D("20"), "USD")
    with pytest.raises(MoneyError):
        split_refund(refund, original, "USD")


def test_refund_against_an_inconsistent_split_is_refused():
    with pytest.raises(MoneyError, match="add up to the price"):
        split_refund(D("1.00"), FeeSplit(D("10.00"), D("2.00"), D("9.00")), "USD")


@given(price=prices, percentage=percentages, data=st.data())
def test_partial_refunds_adding_up_to_the_price_reverse_exactly_fee_and_share(
    price, percentage, data
):
    original = split_fee(price, percentage, "USD")
    total = to_minor_units(price, "USD")
    cuts = data.draw(st.lists(st.integers(1, total - 1), max_size=8, unique=True).map(sorted))
    bounds = [0, *cuts, total]
    fee_back = share_back = D(0)
    for start, end in zip(bounds, bounds[1:], strict=False):
        refund = from_minor_units(end - start, "USD")
        already = from_minor_units(start, "USD")
        fee, share = split_refund(refund, original, "USD", already_refunded=already)
        assert fee + share == refund
        assert fee >= 0
        assert share >= 0
        fee_back += fee
        share_back += share
        assert fee_back <= original.platform_fee
        assert share_back <= original.coach_share
    assert (fee_back, share_back) == (original.platform_fee, original.coach_share)


@given(currency=currencies, steps=st.integers(1, 10**6), percentage=percentages, data=st.data())
def test_a_partial_refund_in_any_currency_splits_into_chargeable_parts(
    currency, steps, percentage, data
):
    step = amount_step(currency)
    original = split_fee(steps * step, percentage, currency)
    refund = data.draw(st.integers(1, steps)) * step
    fee, share = split_refund(refund, original, currency)
    assert fee + share == refund
    assert to_minor_units(fee, currency) >= 0
    assert to_minor_units(share, currency) >= 0


# --- Stripe's charge limits ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "error"),
    [
        (D("0.50"), "USD", None),
        (D("999999.99"), "USD", None),
        (D("0.49"), "USD", AmountBelowMinimum),
        (D("0"), "USD", AmountBelowMinimum),
        (D("1000000.00"), "USD", AmountAboveMaximum),  # 10^8 minor units
        (D("0.50"), "EUR", None),
        (D("0.49"), "eur", AmountBelowMinimum),
        (D("0.30"), "GBP", None),
        (D("0.29"), "GBP", AmountBelowMinimum),
        (D("50"), "JPY", None),
        (D("49.00"), "JPY", AmountBelowMinimum),
        (D("99999999"), "JPY", None),
        (D("100000000"), "JPY", AmountAboveMaximum),  # 10^8 minor units
        (D("5.000"), "KWD", None),
        (D("99999.990"), "KWD", None),
        (D("100000.000"), "KWD", AmountAboveMaximum),  # 10^8 minor units
        (D("5.005"), "KWD", AmountTooPrecise),
        (D("10.001"), "USD", AmountTooPrecise),
    ],
)
def test_stripe_charge_limits_per_currency(amount, currency, error):
    if error is None:
        check_chargeable(amount, currency)
    else:
        with pytest.raises(error):
            check_chargeable(amount, currency)


def test_below_minimum_says_what_the_minimum_is():
    with pytest.raises(AmountBelowMinimum, match=r"minimum charge of \$0\.50 USD\.") as caught:
        check_chargeable(D("0.49"), "usd")
    assert (caught.value.amount, caught.value.limit, caught.value.currency) == (
        D("0.49"),
        D("0.50"),
        "USD",
    )


def test_above_maximum_says_what_the_maximum_is():
    with pytest.raises(AmountAboveMaximum, match=r"maximum charge of ¥99,999,999 JPY\."):
        check_chargeable(D("100000000"), "JPY")


def test_limit_errors_are_money_errors_and_value_errors():
    assert issubclass(AmountBelowMinimum, MoneyError)
    assert issubclass(AmountAboveMaximum, MoneyError)
    assert issubclass(MoneyError, ValueError)


@pytest.mark.parametrize(
    ("currency", "minimum"),
    [("USD", "0.50"), ("GBP", "0.30"), ("JPY", "50"), ("HKD", "4.00"), ("XYZ", "0.50")],
)
def test_minimum_charge_per_currency_with_a_fallback(currency, minimum):
    assert minimum_charge(currency) == D(minimum)


def test_maximum_charge_is_eight_digits_of_chargeable_minor_units():
    assert maximum_charge("USD") == D("999999.99")
    assert maximum_charge("JPY") == D("99999999")
    assert maximum_charge("KWD") == D("99999.990")


# --- display ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (D("1234.5"), "USD", "$1,234.50"),
        (D("5000.00"), "JPY", "¥5,000"),
        (D("1.23"), "KWD", "KWD 1.230"),
        (D("1.2300"), "KWD", "KWD 1.230"),
        (D("12"), "eur", "€12.00"),
        (D("0.3"), "GBP", "£0.30"),
        (D("-12.00"), "USD", "-$12.00"),
        (D("1234567.89"), "CHF", "CHF 1,234,567.89"),
    ],
)
def test_format_money_for_display(amount, currency, text):
    assert format_money(amount, currency) == text


@pytest.mark.parametrize(
    ("amount", "currency"), [(D("1.005"), "USD"), (D("5000.50"), "JPY"), (D("1.2305"), "KWD")]
)
def test_format_money_refuses_amounts_it_would_have_to_round(amount, currency):
    with pytest.raises(AmountTooPrecise):
        format_money(amount, currency)
