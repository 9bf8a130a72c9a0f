"""Sign-up, sign-in and profile forms. Field rules live here; the database has the last word."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectChoice,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from portal.accounts.passwords import MAX_LENGTH, MIN_LENGTH, password_problem
from portal.models import User
from portal.time_zones import DEFAULT_TIME_ZONE, is_time_zone

PASSWORD_HINT = (
    f"At least {MIN_LENGTH} characters. A few unrelated words work well; "
    "common passwords and your own name or email are refused."
)


def _check_time_zone(field: StringField | HiddenField) -> None:
    field.data = (field.data or "").strip()
    if not is_time_zone(field.data):
        raise ValidationError(
            f"“{field.data[:64]}” is not a time zone we know. Choose one from the list, "
            "such as Europe/Berlin or America/New_York."
        )


def _one_line(form: FlaskForm, field: StringField) -> None:
    """A name stands in mail subjects, which cannot hold a line break, and in invitations."""
    if field.data and field.data.splitlines() != [field.data]:
        raise ValidationError("Your name must fit on one line.")


def _check_password(password: str | None, *, email: str, name: str) -> None:
    problem = password_problem(password or "", email=email or "", name=name or "")
    if problem:
        raise ValidationError(problem)


class SignupForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=120), _one_line])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired()], description=PASSWORD_HINT)
    role = RadioField(
        "I want to",
        choices=[
            SelectChoice("mentee", "Book sessions with coaches"),
            SelectChoice("coach", "Coach and get paid"),
        ],
        default="mentee",
        validators=[DataRequired()],
    )
    # Proposed by the browser (static/js/time_zone.js); without JavaScript it stays UTC, and
    # the profile page changes it either way.
    time_zone = HiddenField(default=DEFAULT_TIME_ZONE)
    submit = SubmitField("Create account")

    def validate_password(self, field: PasswordField) -> None:
        _check_password(field.data, email=self.email.data, name=self.name.data)

    def validate_time_zone(self, field: HiddenField) -> None:
        if not field.data:
            field.data = DEFAULT_TIME_ZONE
        _check_time_zone(field)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
    submit = SubmitField("Sign in")


class ProfileForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=120), _one_line])
    optional_mail = BooleanField(
        "Email me reminders of my sessions, and when a payout is on its way",
        description=(
            "Payments, refunds, renewals, payouts paid or failed, disputes, what Stripe needs "
            "from you and your account's security are always mailed."
        ),
    )
    time_zone = StringField(
        "Your time zone",
        validators=[DataRequired(message="Choose your time zone.")],
        description="Every time on the portal and in our emails is shown in it.",
        render_kw={"list": "time-zones", "autocomplete": "off", "spellcheck": "false"},
    )
    submit = SubmitField("Save")

    def validate_time_zone(self, field: StringField) -> None:
        _check_time_zone(field)


class NewPasswordForm(FlaskForm):
    """A new password typed twice, held to the rules for the person it is for (`user`)."""

    new_password = PasswordField(
        "New password", validators=[DataRequired()], description=PASSWORD_HINT
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")],
    )

    def __init__(self, user: User, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def validate_new_password(self, field: PasswordField) -> None:
        _check_password(field.data, email=self.user.email, name=self.user.name)


class PasswordForm(NewPasswordForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=MAX_LENGTH)]
    )
    submit = SubmitField("Change password")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    submit = SubmitField("Mail me a link")


class ResetPasswordForm(NewPasswordForm):
    submit = SubmitField("Set the new password")


class ConfirmForm(FlaskForm):
    """A button alone: the GET that shows it changes nothing."""

    submit = SubmitField("Confirm")


_CODE_HINT = "The 6 digits your authenticator app shows, or one of your recovery codes."


def _code_field(label: str = "Code", description: str = _CODE_HINT) -> StringField:
    return StringField(
        label,
        validators=[DataRequired(), Length(max=32)],
        description=description,
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"},
    )


class SignInCodeForm(FlaskForm):
    """The second step of signing in, for people with two-factor sign-in."""

    code = _code_field()
    submit = SubmitField("Continue")


class EnrolForm(FlaskForm):
    code = _code_field(
        "Code from your app", "Type the 6 digits your app shows for this portal, to prove it works."
    )
    submit = SubmitField("Turn on two-factor sign-in")


class ConfirmIdentityForm(FlaskForm):
    """Password, and a code where the person has two-factor sign-in (the view asks for it)."""

    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])
    code = StringField(
        "Code",
        validators=[Length(max=32)],
        description=_CODE_HINT,
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"},
    )
    submit = SubmitField("Confirm")


class DisableTwoFactorForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])
    code = _code_field()
    submit = SubmitField("Turn off two-factor sign-in")


class RecoveryCodesForm(FlaskForm):
    """A button alone: new recovery codes (the step-up confirmation guards it)."""

    submit = SubmitField("Make new recovery codes")
