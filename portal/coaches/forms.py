"""The coach's own profile: what mentees see and what a session costs."""

from __future__ import annotations

from datetime import datetime

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

from portal.coaches.services import TOO_FAR_AHEAD
from portal.models.coaching import TOPICS
from portal.money import MoneyError, check_chargeable
from portal.parsing import MoneyField, WholeNumberField
from portal.time_zones import NonexistentTime, wall_time_to_utc

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
    """An open time, typed as the coach's own clock shows it and stored in UTC."""

    starts_at = DateTimeLocalField(
        "Start",
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired(message="Pick a date and time.")],
    )
    duration_minutes = WholeNumberField(
        "Length (minutes)", default=60, validators=[DataRequired(), NumberRange(15, 240)]
    )
    submit = SubmitField("Add open time")

    def __init__(self, time_zone: str, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.time_zone = time_zone
        self.starts_at.label.text = f"Start (your time, {time_zone})"
        self.starts_at.description = (
            f"On your clock in {time_zone}, which you can change on your account's profile. "
            "On the night the clocks go back, a time that happens twice is the first of the two."
        )
        self.starts_at_utc: datetime | None = None

    def validate_starts_at(self, field: DateTimeLocalField) -> None:
        if field.data is None:
            return
        try:
            self.starts_at_utc = wall_time_to_utc(field.data, self.time_zone)
        except NonexistentTime as exc:
            raise ValidationError(str(exc)) from exc
        except OverflowError as exc:  # on the calendar's first or last day, UTC is off its ends
            raise ValidationError(TOO_FAR_AHEAD) from exc
