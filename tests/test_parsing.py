"""The one parser for amounts and the one for whole numbers and cursors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal import pagination
from portal.parsing import BadRequestInput, check_text, parse_int, parse_money

HOSTILE_NUMBERS = [
    "sNaN",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e30",
    "1e999999",
    "²",
    "٣",
    "1_000",
    "",
]


@pytest.mark.parametrize("text", [*HOSTILE_NUMBERS, "1" * 25, "0x10", "1,5", "12.345", "-1"])
def test_an_amount_that_is_not_a_plain_decimal_in_the_column_is_refused(text: str) -> None:
    with pytest.raises(BadRequestInput) as refused:
        parse_money(text)
    assert refused.value.message.startswith(("Enter", "Use"))


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("0.01", "0.01"),
        ("120", "120"),
        (" 99999999.99 ", "99999999.99"),
        ("-0", "0"),
        (".5", "0.5"),
    ],
)
def test_a_plain_decimal_is_read_exactly(text: str, amount: str) -> None:
    assert parse_money(text) == Decimal(amount)
    assert str(parse_money(text)) == amount


def test_a_currency_without_decimals_refuses_cents_and_a_sign_only_where_allowed() -> None:
    with pytest.raises(BadRequestInput, match="whole units"):
        parse_money("10.5", places=0)
    assert parse_money("-3.25", negative=True) == Decimal("-3.25")


@pytest.mark.parametrize("text", [*HOSTILE_NUMBERS, "1" * 25, "2147483648", "-1", "1.0"])
def test_a_whole_number_outside_a_plain_32_bit_id_is_refused(text: str) -> None:
    with pytest.raises(BadRequestInput):
        parse_int(text)


@pytest.mark.parametrize(
    "cursor", ["²_1", "1_²", "sNaN_1", "1e999999_1", "1_" + "9" * 25, "_", "x"]
)
def test_a_bad_cursor_is_a_bad_request_with_its_message(cursor: str) -> None:
    for kind in ("number", "datetime"):
        with pytest.raises(BadRequestInput) as refused:
            pagination.decode(cursor, kind)
        assert refused.value.message == pagination.BAD_CURSOR_MESSAGE


@pytest.mark.parametrize("text", ["a\x00b", "\x1b[31m", "\x7f", "\x08"])
def test_control_characters_are_refused(text: str) -> None:
    with pytest.raises(BadRequestInput, match="control character"):
        check_text(text, "The field 'name'")


def test_tabs_and_line_breaks_are_text() -> None:
    assert check_text("one\ttwo\r\nthree", "The field 'bio'") == "one\ttwo\r\nthree"
