"""Billing's forms: buttons that carry the CSRF token, and the one choice a mentee makes."""

from __future__ import annotations

import secrets

from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectChoice
from wtforms.validators import DataRequired, Regexp

ATTEMPT_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"


def new_attempt() -> str:
    """Names one press of a button that opens a Stripe page: a double click opens one page."""
    return secrets.token_urlsafe(12)


class AttemptForm(FlaskForm):
    """A button that asks Stripe to make something; `attempt` makes the request idempotent."""

    attempt = HiddenField(
        validators=[
            DataRequired("Reload the page and try again."),
            Regexp(ATTEMPT_PATTERN, message="Reload the page and try again."),
        ],
        default=new_attempt,
    )


class SubscribeForm(AttemptForm):
    interval = RadioField(
        "Billing period",
        choices=[SelectChoice("month", "Monthly"), SelectChoice("year", "Yearly")],
        default="month",
        validators=[DataRequired("Choose monthly or yearly.")],
    )
