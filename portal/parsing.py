"""Reading numbers and text that people type: one parser for money, one for whole numbers.

What it promises:

- `parse_money` accepts a plain decimal only: ASCII digits, at most one point, a sign only
  where the caller allows it, and no more digits than the column holds (the seed's
  NUMERIC(10,2) unless told otherwise). `NaN`, `sNaN`, `Infinity`, exponents (`1e30`), Unicode
  digits (`²`, `٣`) and anything longer are refused with a message that says what to type.
- `parse_int` does the same for ids, counts and cursor parts, within a 32-bit column unless told.
- `check_text` refuses C0 control characters (NUL and the like): PostgreSQL cannot store NUL,
  and no person types the others. Tab, newline and carriage return are kept, for text areas.
- Every refusal is a `BadRequestInput` carrying `.message`; one app-level handler answers it as
  a 400 page or fragment, so views never catch it. `check_request` applies `check_text` to every
  query parameter, form value and path argument before any view runs.
- `MoneyField` and `WholeNumberField` are the WTForms fields every form uses for these values;
  a bad value becomes that field's error, with the same message. `ConfirmedMoneyField` carries
  back an amount a page showed for the person to confirm, and `NotBelow` keeps the end of a
  range (dates, amounts) from standing before its start.
"""

from __future__ import annotations

import re
from decimal import Decimal

from flask import Flask, request
from wtforms import DecimalField, Field, HiddenField, IntegerField, ValidationError
from wtforms.validators import InputRequired

from portal.errors import BadRequestInput

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
# The seed's money columns: NUMERIC(10,2).
MONEY_DIGITS = 10
MONEY_PLACES = 2
# A query parameter longer than this is no filter or link the portal made.
MAX_QUERY_VALUE = 2_000

_DECIMAL = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]*))?|([+-]?)\.([0-9]+)", re.ASCII)
_PLACES = {1: "one", 2: "two", 3: "three"}
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
# C0 controls and DEL, except tab, newline and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_money(
    text: str | None,
    *,
    places: int = MONEY_PLACES,
    digits: int = MONEY_DIGITS,
    negative: bool = False,
    what: str = "an amount",
) -> Decimal:
    """`text` as an exact Decimal, or BadRequestInput saying why not."""
    value = (text or "").strip()
    match = _DECIMAL.fullmatch(value)
    example = "120.00" if places else "120"
    if not match:
        raise BadRequestInput(
            f"Enter {what} as plain digits, like {example}"
            f"{f', with at most {_PLACES.get(places, places)} after the point' if places else ''}."
        )
    sign = match.group(1) or match.group(4)
    whole = (match.group(2) or "0").lstrip("0")
    fraction = (match.group(3) if match.group(2) is not None else match.group(5)) or ""
    if sign == "-" and not negative and (whole or fraction.strip("0")):
        raise BadRequestInput(f"Enter {what} of 0 or more.")
    if len(fraction.rstrip("0")) > places:
        raise BadRequestInput(
            f"Use at most {_PLACES.get(places, places)} decimal places."
            if places
            else "Use whole units, no decimals."
        )
    if len(whole) > digits - places:
        raise BadRequestInput(f"Enter {what} below {10 ** (digits - places):,}.")
    number = Decimal(value.lstrip("+"))
    return abs(number) if number == 0 else number  # never a "-0.00"


def parse_int(
    text: str | None,
    *,
    minimum: int = 0,
    maximum: int = MAX_INT32,
    what: str = "a number",
) -> int:
    """`text` as an int within [minimum, maximum], or BadRequestInput saying why not."""
    value = (text or "").strip()
    if not _INTEGER.fullmatch(value):
        raise BadRequestInput(f"Enter {what} as plain digits (0-9).")
    # Bound the length first, so a number a million digits long is not converted to find out.
    if len(value.lstrip("+-").lstrip("0")) > len(str(max(abs(minimum), abs(maximum)))):
        raise BadRequestInput(f"Enter {what} from {minimum:,} to {maximum:,}.")
    number = int(value)
    if not minimum <= number <= maximum:
        raise BadRequestInput(f"Enter {what} from {minimum:,} to {maximum:,}.")
    return number


def check_text(value: str, where: str) -> str:
    if _CONTROL.search(value):
        raise BadRequestInput(
            f"{where} contains a control character (such as a NUL byte) that text cannot hold. "
            "Remove it and try again."
        )
    return value


def check_request() -> None:
    """before_request: no control characters in any parameter, form value or path argument."""
    for name, value in request.args.items(multi=True):
        check_text(value, f"The parameter {_label(name)}")
        check_text(name, "A parameter name")
        if len(value) > MAX_QUERY_VALUE:
            raise BadRequestInput(
                f"The parameter {_label(name)} is longer than {MAX_QUERY_VALUE:,} characters."
            )
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            check_text(value, f"The address ({name})")
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in request.form.items(multi=True):
            check_text(value, f"The field {_label(name)}")
            check_text(name, "A field name")


def _label(name: str) -> str:
    return repr(name[:40])


def init_input_checks(app: Flask) -> None:
    app.before_request(check_request)


class MoneyField(DecimalField):
    """An amount: a plain decimal within the column (see `parse_money`), else a field error."""

    def __init__(self, *args: object, negative: bool = False, **kwargs: object) -> None:
        kwargs.setdefault("places", MONEY_PLACES)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.negative = negative

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        try:
            self.data = parse_money(valuelist[0], places=self.places, negative=self.negative)
        except BadRequestInput as exc:
            self.data = None
            raise ValueError(exc.message) from exc


class WholeNumberField(IntegerField):
    """A whole number in a 32-bit column (see `parse_int`), else a field error."""

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        try:
            self.data = parse_int(valuelist[0], minimum=-MAX_INT32)
        except BadRequestInput as exc:
            self.data = None
            raise ValueError(exc.message) from exc


class ConfirmedMoneyField(HiddenField):
    """An amount a page showed and the person confirmed, posted back in a hidden field.

    `data` stays the text the page showed; `money` is that text read by `parse_money`, set once
    the form validates. A missing or unreadable amount is the field's error, naming `what`
    ("the amount to refund").
    """

    def __init__(self, what: str, **kwargs: object) -> None:
        missing = f"{what[:1].upper()}{what[1:]} is missing."
        super().__init__(validators=[InputRequired(missing)], **kwargs)  # type: ignore[arg-type]
        self.what = what
        self.money: Decimal | None = None

    def post_validate(self, form: object, validation_stopped: bool) -> None:
        if validation_stopped:
            return
        try:
            self.money = parse_money(self.data, what=self.what)
        except BadRequestInput as exc:
            raise ValidationError(exc.message) from exc


class NotBelow:
    """A WTForms validator: the field, when filled in, is not below the field named `start`
    (a range's end before its start). Either left empty passes."""

    def __init__(self, start: str, message: str) -> None:
        self.start = start
        self.message = message

    def __call__(self, form: object, field: Field) -> None:
        start = form[self.start].data  # type: ignore[index]
        if field.data is not None and start is not None and field.data < start:
            raise ValidationError(self.message)


def plain_number_or_text(form: object, field: object) -> None:
    """A WTForms validator for "an id or some text" fields: digits must be a plain id."""
    value = (getattr(field, "data", None) or "").strip()
    if value.isdigit():
        try:
            parse_int(value, what="an id")
        except BadRequestInput as exc:
            raise ValidationError(exc.message) from exc


def form_error_message(form: object) -> str:
    """Every error of a form on one line, for a 400 answered without the form's page."""
    errors = getattr(form, "errors", {}) or {}
    parts = []
    for name, messages in errors.items():
        field = getattr(form, name, None) if isinstance(name, str) else None
        label = field.label.text if field is not None and hasattr(field, "label") else name
        flat = [m for m in messages if isinstance(m, str)] if isinstance(messages, list) else []
        parts.append(f"{label}: {' '.join(flat) or 'not valid'}")
    return "; ".join(parts) or "The request is missing something it needs."
