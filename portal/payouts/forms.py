"""Forms for getting paid: onboarding, payout settings, and paying out."""

from __future__ import annotations

from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SubmitField,
)
from wtforms.validators import InputRequired, Length, NumberRange

from portal.models import PayoutSchedule
from portal.parsing import ConfirmedMoneyField, MoneyField

# Countries where Stripe offers Express accounts that the portal is set up for.
COUNTRIES = [
    SelectChoice("US", "United States"),
    SelectChoice("GB", "United Kingdom"),
    SelectChoice("CA", "Canada"),
    SelectChoice("AU", "Australia"),
    SelectChoice("NZ", "New Zealand"),
    SelectChoice("IE", "Ireland"),
    SelectChoice("DE", "Germany"),
    SelectChoice("FR", "France"),
    SelectChoice("ES", "Spain"),
    SelectChoice("IT", "Italy"),
    SelectChoice("NL", "Netherlands"),
    SelectChoice("BE", "Belgium"),
    SelectChoice("AT", "Austria"),
    SelectChoice("PT", "Portugal"),
    SelectChoice("FI", "Finland"),
    SelectChoice("CH", "Switzerland"),
    SelectChoice("JP", "Japan"),
]

SCHEDULES = [
    SelectChoice(PayoutSchedule.INSTANT.value, "Instant: I pay out whenever I choose"),
    SelectChoice(PayoutSchedule.DAILY.value, "Daily"),
    SelectChoice(PayoutSchedule.WEEKLY.value, "Weekly, on Mondays"),
    SelectChoice(PayoutSchedule.MONTHLY.value, "Monthly, on the 1st"),
]
MAXIMUM_MINIMUM_PAYOUT = Decimal("1000000.00")


class GetPaidForm(FlaskForm):
    country = SelectField(
        "Country you live and are paid in",
        choices=COUNTRIES,
        description="Stripe asks for details that depend on your country; it cannot change later.",
    )
    submit = SubmitField("Continue to Stripe")


class PayoutSettingsForm(FlaskForm):
    payout_schedule = RadioField("How often you are paid", choices=SCHEDULES)
    minimum_payout = MoneyField(
        "Minimum payout",
        validators=[
            InputRequired("Enter a minimum payout, such as 100.00 (0 pays out any amount)."),
            NumberRange(
                min=0,
                max=MAXIMUM_MINIMUM_PAYOUT,
                message="Enter an amount from 0 to 1,000,000.00.",
            ),
        ],
        description="Scheduled payouts wait until your available balance reaches this amount.",
    )
    submit = SubmitField("Save payout settings")


class PayOutNowForm(FlaskForm):
    # The amount the coach saw and confirmed; refused if the balance moved since.
    amount = ConfirmedMoneyField("the amount to pay out")
    # This confirmation, one attempt: sent again (a double click, a retry) it names the same
    # Stripe payout; a new confirmation is a new attempt, even after Stripe refused one.
    attempt = HiddenField(validators=[InputRequired(), Length(min=16, max=64)])
    submit = SubmitField("Yes, pay out now")


class PayOutInstantlyForm(PayOutNowForm):
    # `amount` is what arrives on the card, as the coach saw it beside Stripe's fee.
    submit = SubmitField("Yes, pay out instantly")
