"""Sign up, confirm an address, sign in and out, reset a forgotten password, the profile page."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from portal.accounts import services
from portal.accounts.forms import (
    ConfirmForm,
    ForgotPasswordForm,
    LoginForm,
    PasswordForm,
    ProfileForm,
    ResetPasswordForm,
    SignupForm,
)
from portal.errors import on_error_go_to
from portal.extensions import db, limiter
from portal.models import Role, User
from portal.rendering import render
from portal.security import PUBLIC, SIGNED_IN, allow, safe_next

bp = Blueprint("accounts", __name__, url_prefix="/account")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _signup_limit() -> str:
    return current_app.config["SIGNUP_RATE_LIMIT"]


def _password_change_limit() -> str:
    return current_app.config["PASSWORD_CHANGE_RATE_LIMIT"]


def _login_email_key() -> str:
    return "login-email:" + services.normalise_email(request.form.get("email", ""))


def _password_change_key() -> str:
    return f"password-change:{current_user.id}"


def _failed(response: Response) -> bool:
    """A sign-in or password change that did not succeed (success answers with a redirect)."""
    return response.status_code >= 400


def _home_for(role: Role) -> str:
    return {
        Role.ADMIN: url_for("coaches.directory"),
        Role.COACH: url_for("coaches.my_profile"),
        Role.MENTEE: url_for("coaches.directory"),
    }[role]


def _start_session(user: User) -> None:
    session.clear()  # a fresh session at every login
    login_user(user)


@bp.route("/signup", methods=["GET", "POST"])
@allow(PUBLIC)
@limiter.limit(_signup_limit, methods=["POST"])
def signup() -> Response | str:
    if current_user.is_authenticated:
        return redirect(_home_for(current_user.role))
    form = SignupForm()
    if form.validate_on_submit():
        # Whether or not the address had an account, the answer is the same and nobody is signed
        # in, so the form does not tell a stranger who has an account here.
        try:
            user = services.create_user(
                form.email.data,
                form.password.data,
                form.name.data,
                Role(form.role.data),
                time_zone=form.time_zone.data,
            )
            services.send_verification(user)
        except services.EmailTaken:
            services.tell_owner_of_signup_attempt(form.email.data)
        db.session.commit()
        flash(
            "Thank you. We mailed you a link to confirm your address: open it, then sign in "
            "with your email and the password you chose.",
            "success",
        )
        return redirect(url_for("accounts.login"), 303)
    return render("accounts/signup.html", form=form, status=400 if form.errors else 200)


@bp.route("/verify/<token>", methods=["GET", "POST"])
@allow(PUBLIC)
def verify_email(token: str) -> Response | str:
    # The link only shows a button: a mail scanner that fetches links confirms nothing.
    form = ConfirmForm()
    if form.validate_on_submit():
        on_error_go_to(url_for("accounts.login"))
        services.verify_email(token)
        db.session.commit()
        flash("Your email address is confirmed. Thank you.", "success")
        target = "accounts.profile" if current_user.is_authenticated else "accounts.login"
        return redirect(url_for(target), 303)
    return render("accounts/verify_email.html", form=form)


@bp.post("/verify")
@allow(SIGNED_IN)
@limiter.limit(_signup_limit)
def resend_verification() -> Response:
    if not current_user.email_verified:
        services.send_verification(current_user)
        db.session.commit()
        flash(f"We mailed a new link to {current_user.email}.", "success")
    return redirect(url_for("accounts.profile"), 303)


@bp.route("/forgot", methods=["GET", "POST"])
@allow(PUBLIC)
@limiter.limit(_signup_limit, methods=["POST"])
def forgot_password() -> Response | str:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.send_password_reset(form.email.data)
        db.session.commit()
        # The same answer whether or not the address has an account.
        flash(
            "If an account uses that address, we mailed it a link to choose a new password. "
            "The link works once, for one hour.",
            "success",
        )
        return redirect(url_for("accounts.login"), 303)
    return render("accounts/forgot_password.html", form=form, status=400 if form.errors else 200)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@allow(PUBLIC)
def reset_password(token: str) -> Response | str:
    on_error_go_to(url_for("accounts.forgot_password"))
    user = services.password_reset_user(token)
    if user is None:
        raise services.LinkNotValid()
    form = ResetPasswordForm(user)
    if form.validate_on_submit():
        services.reset_password(token, form.new_password.data)
        db.session.commit()
        logout_user()
        session.clear()
        flash(
            "Your password is changed, and every device is signed out. Sign in with it.", "success"
        )
        return redirect(url_for("accounts.login"), 303)
    return render("accounts/reset_password.html", form=form, status=400 if form.errors else 200)


@bp.route("/login", methods=["GET", "POST"])
@allow(PUBLIC)
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_login_limit, methods=["POST"], key_func=_login_email_key, deduct_when=_failed)
def login() -> Response | str:
    target = request.args.get("next")
    if current_user.is_authenticated:
        return redirect(safe_next(target, _home_for(current_user.role)))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            db.session.commit()
            _start_session(user)
            return redirect(safe_next(target, _home_for(user.role)), 303)
        form.password.errors.append("That email and password do not match an account.")
    return render("accounts/login.html", form=form, status=400 if form.errors else 200)


@bp.post("/logout")
@allow(SIGNED_IN)
def logout() -> Response:
    # A new token ends every copy of this login session, including a cookie copied from here.
    services.end_sessions(current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("accounts.login"), 303)


@bp.route("/profile", methods=["GET", "POST"])
@allow(SIGNED_IN)
def profile() -> Response | str:
    form = ProfileForm(obj=current_user)
    password_form = PasswordForm(prefix="pw")
    if form.submit.data and form.validate_on_submit():
        services.update_profile(
            current_user,
            name=form.name.data,
            optional_mail=form.optional_mail.data,
            time_zone=form.time_zone.data,
        )
        db.session.commit()
        flash("Your profile is saved.", "success")
        return redirect(url_for("accounts.profile"), 303)
    status = 400 if form.errors else 200
    return render("accounts/profile.html", form=form, password_form=password_form, status=status)


@bp.post("/password")
@allow(SIGNED_IN)
@limiter.limit(
    _password_change_limit, key_func=_password_change_key, deduct_when=_failed, methods=["POST"]
)
def change_password() -> Response | str:
    password_form = PasswordForm(prefix="pw")
    if password_form.validate_on_submit():
        if services.change_password(
            current_user, password_form.current_password.data, password_form.new_password.data
        ):
            db.session.commit()
            _start_session(current_user._get_current_object())
            flash("Your password is changed. Other devices are signed out.", "success")
            return redirect(url_for("accounts.profile"), 303)
        password_form.current_password.errors.append("That is not your current password.")
    form = ProfileForm(obj=current_user)
    return render("accounts/profile.html", form=form, password_form=password_form, status=400)
