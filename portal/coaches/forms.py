"""The coach's own profile: what mentees see and what a session costs."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.models.coaching import TOPICS
from portal.money import MoneyError, check_chargeable
from portal.parsing import MoneyField, WholeNumberField

CURRENCIES = [
    SelectChoice("USD", "US dollar"),
    SelectChoice("EUR", "Euro"),
    SelectChoice("GBP", "Pound sterling"),
    SelectChoice("CAD", "Canadian dollar"),
    SelectChoice("AUD", "Australian dollar"),
    SelectChoice("JPY", "Japanese yen"),
]


class CoachProfileForm(FlaskForm):
    headline = StringField(
        "Headline",
        validators=[Length(max=160)],
        description="One line mentees see in the directory.",
    )
    bio = TextAreaField("About you", validators=[Length(max=5000)])
    session_price = MoneyField(
        "Price of one session", validators=[DataRequired(), NumberRange(min=0)]
    )
    currency = SelectField("Currency", choices=CURRENCIES, default="USD")
    session_minutes = WholeNumberField(
        "Session length (minutes)", default=60, validators=[DataRequired(), NumberRange(15, 240)]
    )
    topics = SelectMultipleField(
        "Topics",
        choices=[SelectChoice(slug, label) for slug, label in TOPICS.items()],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        description="What you help with; mentees find you in the directory by these.",
    )
    is_published = BooleanField("Show me in the coaches directory")
    submit = SubmitField("Save profile")

    def validate_session_price(self, field: MoneyField) -> None:
        price = field.data
        if price is None:
            return
        try:
            check_chargeable(price, self.currency.data)
        except MoneyError as exc:
            raise ValidationError(str(exc)) from exc


class SlotForm(FlaskForm):
    starts_at = DateTimeLocalField(
        "Start (UTC)",
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired(message="Pick a date and time.")],
    )
    duration_minutes = WholeNumberField(
        "Length (minutes)", default=60, validators=[DataRequired(), NumberRange(15, 240)]
    )
    submit = SubmitField("Add open time")

    def starts_at_utc(self) -> datetime:
        return self.starts_at.data.replace(tzinfo=UTC)


class ActionForm(FlaskForm):
    """A button that changes something: it carries only the CSRF token."""
