"""The admin's forms. Filters are GET forms (no CSRF: they change nothing); actions carry it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    SearchField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)

from portal.admin.disputes import EVIDENCE_FIELDS
from portal.models import EventStatus, Role, TransactionStatus, TransactionType
from portal.parsing import ConfirmedMoneyField, MoneyField, NotBelow, plain_number_or_text


def _choices(enum_cls: type, everything: str) -> list[SelectChoice]:
    return [SelectChoice("", everything)] + [
        SelectChoice(m.value, m.value.replace("_", " ")) for m in enum_cls
    ]


class FilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form: it reads, never writes


class TransactionFilterForm(FilterForm):
    q = SearchField(
        "Search",
        validators=[Optional(), Length(max=255), plain_number_or_text],
        description="A Stripe id (pi_, ch_, tr_, cs_, re_, po_, evt_...), an email, or a number.",
    )
    type = SelectField("Type", choices=_choices(TransactionType, "Any type"), default="")
    status = SelectField("Status", choices=_choices(TransactionStatus, "Any status"), default="")
    coach = StringField("Coach", validators=[Optional(), Length(max=254), plain_number_or_text])
    mentee = StringField("Mentee", validators=[Optional(), Length(max=254), plain_number_or_text])
    currency = StringField(
        "Currency",
        validators=[
            Optional(),
            Regexp(r"^[A-Za-z]{3}$", message="Enter a three-letter currency code, like USD."),
        ],
    )
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField(
        "To",
        validators=[Optional(), NotBelow("date_from", "The end date is before the start date.")],
    )
    amount_min = MoneyField(
        "Amount from",
        validators=[Optional(), NumberRange(min=0, message="Enter an amount of 0 or more.")],
    )
    amount_max = MoneyField(
        "Amount to",
        validators=[
            Optional(),
            NumberRange(min=0, message="Enter an amount of 0 or more."),
            NotBelow("amount_min", "The upper amount is below the lower one."),
        ],
    )
    sort = SelectField(
        "Sort by",
        choices=[
            SelectChoice("date", "Newest first"),
            SelectChoice("date_asc", "Oldest first"),
            SelectChoice("amount", "Largest first"),
            SelectChoice("amount_asc", "Smallest first"),
        ],
        default="date",
    )


class EventFilterForm(FilterForm):
    status = SelectField("Status", choices=_choices(EventStatus, "Any status"), default="")
    type = StringField("Type", validators=[Optional(), Length(max=100)])


class UserSearchForm(FilterForm):
    q = SearchField("Name or email", validators=[Optional(), Length(max=254)])
    role = SelectField("Role", choices=_choices(Role, "Any role"), default="")


class ReconcileForm(FlaskForm):
    """The period of a reconciliation run to start."""

    # The form opens on the last 7 days, today included (UTC).
    since = DateField(
        "From",
        validators=[InputRequired("Enter the first day of the period.")],
        default=lambda: datetime.now(UTC).date() - timedelta(days=6),
    )
    until = DateField(
        "To",
        validators=[
            InputRequired("Enter the last day of the period."),
            NotBelow("since", "The period ends before it starts."),
        ],
        default=lambda: datetime.now(UTC).date(),
    )


class RefundForm(FlaskForm):
    amount = MoneyField(
        "Amount to refund",
        # A Decimal bound: the float 0.01 is a hair above 0.01, so it refused a refund of 0.01.
        validators=[
            Optional(),
            NumberRange(min=Decimal("0.01"), message="Enter an amount above zero."),
        ],
        description="Leave empty to refund everything not yet refunded.",
    )
    reason = TextAreaField(
        "Reason",
        validators=[DataRequired("Say why, for the audit log."), Length(max=255)],
    )
    submit = SubmitField("Review refund")


class RefundConfirmForm(FlaskForm):
    amount = ConfirmedMoneyField("the amount to refund")
    reason = HiddenField(validators=[InputRequired("The reason is missing."), Length(max=255)])
    token = HiddenField(validators=[InputRequired(), Length(min=16, max=64)])
    submit = SubmitField("Refund now")


class DisputeEvidenceForm(FlaskForm):
    """Stripe's text evidence fields; Stripe allows 150,000 characters in all."""

    product_description = TextAreaField("What was sold", validators=[Optional(), Length(max=20000)])
    customer_name = StringField("Mentee's name", validators=[Optional(), Length(max=5000)])
    customer_email_address = StringField(
        "Mentee's email address", validators=[Optional(), Length(max=5000)]
    )
    service_date = StringField(
        "Date of the session",
        validators=[
            Optional(),
            Regexp(r"^\d{4}-\d{2}-\d{2}$", message="Enter the date as YYYY-MM-DD."),
        ],
    )
    cancellation_policy_disclosure = TextAreaField(
        "Cancellation policy the mentee accepted", validators=[Optional(), Length(max=20000)]
    )
    uncategorized_text = TextAreaField(
        "Whether it took place, and the receipt", validators=[Optional(), Length(max=20000)]
    )
    submit = SubmitField("Submit evidence to Stripe")

    def evidence(self) -> dict[str, str]:
        return {name: (getattr(self, name).data or "").strip() for name in EVIDENCE_FIELDS}


class PlatformFeeForm(FlaskForm):
    platform_fee_percentage = MoneyField(
        "Platform fee (%)",
        validators=[
            InputRequired("Enter a percentage from 0 to 100."),
            NumberRange(min=0, max=100, message="Enter a percentage from 0 to 100."),
        ],
        description="Applies to bookings made from now on; earlier bookings keep their fee.",
    )
    submit = SubmitField("Save fee")
