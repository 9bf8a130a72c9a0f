"""Sign up, confirm an address, sign in and out, reset a forgotten password, the profile page,
two-factor sign-in and the confirmation that money actions ask for."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from portal import stepup
from portal.accounts import services, twofactor
from portal.accounts.forms import (
    ConfirmForm,
    ConfirmIdentityForm,
    DisableTwoFactorForm,
    EnrolForm,
    ForgotPasswordForm,
    LoginForm,
    PasswordForm,
    ProfileForm,
    RecoveryCodesForm,
    ResetPasswordForm,
    SignInCodeForm,
    SignupForm,
)
from portal.errors import on_error_go_to
from portal.extensions import db, limiter
from portal.models import Role, User
from portal.rendering import render, render_form
from portal.security import PUBLIC, SIGNED_IN, allow, is_safe_next, safe_next

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
    stepup.mark_confirmed()  # signing in is a confirmation of who this is


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
    return render_form(form, "accounts/signup.html")


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
    return render_form(form, "accounts/forgot_password.html")


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
    return render_form(form, "accounts/reset_password.html")


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
            if user.two_factor_enabled:
                _await_code(user, target)
                return redirect(url_for("accounts.login_code"), 303)
            _start_session(user)
            if user.two_factor_required:
                return redirect(_enrol_then(target), 303)
            return redirect(safe_next(target, _home_for(user.role)), 303)
        form.password.errors.append("That email and password do not match an account.")
    return render_form(form, "accounts/login.html")


# --- the second step of signing in -------------------------------------------------------------

_AWAITING_CODE = "awaiting_code"
_CODE_STEP_LASTS = timedelta(minutes=5)


def _await_code(user: User, target: str | None) -> None:
    """The password was right: remember whom the code step is for (nobody is signed in yet)."""
    session.clear()
    session[_AWAITING_CODE] = {
        "user": user.get_id(),
        "since": twofactor.now().timestamp(),
        "next": target if is_safe_next(target) else None,
    }


def _user_awaiting_code() -> tuple[User | None, str | None]:
    pending = session.get(_AWAITING_CODE)
    if not isinstance(pending, dict):
        return None, None
    age = twofactor.now().timestamp() - float(pending.get("since", 0))
    if not 0 <= age < _CODE_STEP_LASTS.total_seconds():
        return None, None
    # The key carries the session token: a password changed meanwhile ends this sign-in too.
    return services.load_user(str(pending.get("user", ""))), pending.get("next")


def _code_step_key() -> str:
    pending = session.get(_AWAITING_CODE)
    user = pending.get("user", "") if isinstance(pending, dict) else ""
    return "login-code:" + str(user).partition(":")[0]


def _enrol_then(target: str | None) -> str:
    return url_for("accounts.two_factor", next=safe_next(target, _home_for(Role.ADMIN)))


@bp.route("/login/code", methods=["GET", "POST"])
@allow(PUBLIC)
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_login_limit, methods=["POST"], key_func=_code_step_key, deduct_when=_failed)
def login_code() -> Response | str:
    if current_user.is_authenticated:
        return redirect(_home_for(current_user.role))
    user, target = _user_awaiting_code()
    if user is None:
        session.pop(_AWAITING_CODE, None)
        flash("Sign in again: the step for your code has expired.", "info")
        return redirect(url_for("accounts.login"), 303)
    form = SignInCodeForm()
    if form.validate_on_submit():
        checked = twofactor.check_code(user, form.code.data)
        if checked is not None:
            db.session.commit()
            _start_session(user)
            _tell_of_recovery_codes_left(checked)
            return redirect(safe_next(target, _home_for(user.role)), 303)
        form.code.errors.append(twofactor.WrongCode().message)
    return render_form(form, "accounts/login_code.html")


def _tell_of_recovery_codes_left(checked: twofactor.CheckedCode) -> None:
    left = checked.recovery_codes_left
    if left is not None:
        flash(
            f"You used a recovery code; {left} left. Each works once: make new ones on your "
            "two-factor page if you are running out.",
            "info",
        )


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
    password_form = PasswordForm(current_user, prefix="pw")
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
    return render_form(form, "accounts/profile.html", password_form=password_form)


@bp.post("/password")
@allow(SIGNED_IN)
@limiter.limit(
    _password_change_limit, key_func=_password_change_key, deduct_when=_failed, methods=["POST"]
)
def change_password() -> Response | str:
    password_form = PasswordForm(current_user, prefix="pw")
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


# --- two-factor sign-in: enrol, recovery codes, turn off ----------------------------------------

_PENDING_SECRET = "totp_pending_secret"  # noqa: S105 - a session key


def _next_after_enrolment() -> str | None:
    target = request.args.get("next")
    return target if is_safe_next(target) else None


@bp.get("/two-factor")
@allow(SIGNED_IN)
def two_factor() -> Response | str:
    if current_user.two_factor_enabled:
        return render(
            "accounts/two_factor.html",
            codes_left=twofactor.recovery_codes_left(current_user),
            codes_form=RecoveryCodesForm(),
            disable_form=DisableTwoFactorForm(prefix="off"),
        )
    return _enrolment_page(EnrolForm())


def _enrolment_page(form: EnrolForm, status: int = 200) -> Response:
    # The secret waits in the signed session cookie until a code proves the app has it; the
    # same secret is shown on every visit until then, so a reload does not undo a scan.
    secret = session.get(_PENDING_SECRET)
    if not isinstance(secret, str):
        secret = session[_PENDING_SECRET] = twofactor.new_secret()
    uri = twofactor.provisioning_uri(current_user, secret)
    return render(
        "accounts/two_factor_enrol.html",
        status=status,
        form=form,
        qr_code=twofactor.qr_code_svg(uri),
        secret=twofactor.format_secret(secret),
        next=_next_after_enrolment(),
    )


@bp.post("/two-factor/enrol")
@allow(SIGNED_IN)
@limiter.limit(
    _password_change_limit, key_func=_password_change_key, deduct_when=_failed, methods=["POST"]
)
def enrol_two_factor() -> Response | str:
    form = EnrolForm()
    secret = session.get(_PENDING_SECRET)
    if current_user.two_factor_enabled or not isinstance(secret, str):
        return redirect(url_for("accounts.two_factor"), 303)
    if form.validate_on_submit():
        try:
            codes = twofactor.enrol(current_user, secret, form.code.data.strip())
        except twofactor.WrongCode as exc:
            db.session.rollback()
            form.code.errors.append(exc.message)
        else:
            db.session.commit()
            session.pop(_PENDING_SECRET, None)
            # A confirmation made with the password alone no longer vouches for this account.
            stepup.forget_confirmation()
            return _recovery_codes_page(codes, first=True)
    return _enrolment_page(form, status=400)


def _recovery_codes_page(codes: list[str], *, first: bool) -> Response:
    # Rendered from the POST itself, so the codes never travel in a cookie or a URL; reloading
    # asks to resend a form that is refused, and shows no code again.
    return render(
        "accounts/recovery_codes.html",
        codes=codes,
        first=first,
        next=_next_after_enrolment() or url_for("accounts.two_factor"),
    )


@bp.post("/two-factor/recovery-codes")
@allow(SIGNED_IN)
@stepup.requires_confirmation
def regenerate_recovery_codes() -> Response | str:
    if not RecoveryCodesForm().validate_on_submit():
        return redirect(url_for("accounts.two_factor"), 303)
    codes = twofactor.regenerate_recovery_codes(current_user)
    db.session.commit()
    return _recovery_codes_page(codes, first=False)


@bp.post("/two-factor/disable")
@allow(SIGNED_IN)
@limiter.limit(
    _password_change_limit, key_func=_password_change_key, deduct_when=_failed, methods=["POST"]
)
def disable_two_factor() -> Response | str:
    form = DisableTwoFactorForm(prefix="off")
    if form.validate_on_submit():
        try:
            twofactor.disable(current_user, form.password.data, form.code.data)
        except twofactor.TwoFactorError as exc:
            db.session.rollback()
            form.code.errors.append(exc.message)
        else:
            db.session.commit()
            flash("Two-factor sign-in is off. Your password alone signs you in now.", "success")
            return redirect(url_for("accounts.profile"), 303)
    return render(
        "accounts/two_factor.html",
        status=400,
        codes_left=twofactor.recovery_codes_left(current_user),
        codes_form=RecoveryCodesForm(),
        disable_form=form,
    )


# --- confirming who you are before a money action ------------------------------------------------


@bp.route("/confirm", methods=["GET", "POST"])
@allow(SIGNED_IN)
@limiter.limit(
    _password_change_limit, key_func=_password_change_key, deduct_when=_failed, methods=["POST"]
)
def confirm() -> Response | str:
    target = safe_next(request.args.get("next"), _home_for(current_user.role))
    form = ConfirmIdentityForm()
    needs_code = current_user.two_factor_enabled
    if form.validate_on_submit():
        if not services.password_matches(current_user, form.password.data):
            form.password.errors.append("That is not your password.")
        elif needs_code and twofactor.check_code(current_user, form.code.data or "") is None:
            form.code.errors.append(twofactor.WrongCode().message)
        else:
            db.session.commit()
            stepup.mark_confirmed()
            return redirect(target, 303)
    return render_form(form, "accounts/confirm.html", needs_code=needs_code, target=target)
