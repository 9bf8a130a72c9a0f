"""Coaches getting paid: "Get paid" onboarding, the earnings dashboard, payout settings,
"Pay out now", the Express dashboard link. (The admin's per-coach platform fee page lives in
`portal.admin`; it calls `services.change_platform_fee`.)

Every coach page reads the signed-in coach's own rows only (no coach id in the URL), so one
coach can never ask for another's money.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import NamedTuple, TypeVar

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response

from portal import caching, pagination
from portal.errors import on_error_go_to
from portal.extensions import db
from portal.forms import ActionForm, submitted
from portal.models import CoachProfile, PayoutSchedule, Role, StripeConnectedAccount
from portal.money import format_money
from portal.parsing import BadRequestInput, form_error_message, parse_int
from portal.payouts import cli, composition, earnings, sections, services, statement
from portal.payouts.forms import (
    GetPaidForm,
    PayOutInstantlyForm,
    PayOutNowForm,
    PayoutSettingsForm,
)
from portal.rendering import htmx_redirect, render, render_form
from portal.security import allow
from portal.stepup import requires_confirmation
from portal.stripe_gateway import GatewayError
from portal.templating import frame_url
from portal.time_zones import local

Named = TypeVar("Named")
T = TypeVar("T")

bp = Blueprint("payouts", __name__)
cli.register(bp)


def _today() -> datetime:
    return datetime.now(UTC)


class Days(NamedTuple):
    """Today's date on the coach's clocks (the chart's weeks and months) and on the platform's
    (the day scheduled payouts run, `PLATFORM_TIMEZONE`)."""

    coach: date
    platform: date


# --- the dashboard ----------------------------------------------------------------------------


@bp.get("/coach/earnings")
@allow(Role.COACH)
def dashboard() -> Response:
    """The coach's earnings. The page is kept whole for the coach under the rows it shows as
    this request read them (their user, profile and account: balances, the counters its kept
    sections are kept under, the name and time zone the frame shows, the database's generation)
    and the period and day it shows: one statement when nothing changed."""
    coach = current_user._get_current_object()  # one context-local look-up for the page
    profile = coach.coach_profile  # loaded with the signed-in user
    if profile is None:
        abort(404)
    account = coach.stripe_connected_account
    period = "month" if request.args.get("by") == "month" else "week"
    now = _today()
    # The chart's periods begin on the coach's clocks; payouts run on the platform's days.
    days = Days(
        coach=local(now, coach.time_zone).date(),
        platform=local(now, current_app.config["PLATFORM_TIMEZONE"]).date(),
    )
    return caching.page(
        "payouts.dashboard",
        ("dashboard", period, days),
        lambda: _render_dashboard(profile, account, period, days, coach.time_zone),
        reader=caching.rows_read(coach, profile, account),
    )


def _render_dashboard(
    profile: CoachProfile,
    account: StripeConnectedAccount | None,
    period: str,
    days: Days,
    zone: str,  # the zone the page shows times in (`viewer_time_zone`)
) -> caching.Expiring[str]:
    html = render_template(
        "payouts/dashboard.html",
        summary=earnings.summary(profile, account, days.platform),
        account=account,
        history=sections.history(profile, period, days.coach, zone),
        payouts=sections.payouts(profile, account, zone),
        requirements=services.describe_requirements(
            (account.requirements or {}).get("currently_due") if account else None
        ),
        now_year=days.coach.year,
        waiting=sections.waiting_reasons(
            profile, account, days.platform, frame_url("payouts.get_paid"), zone
        ),
    )
    return caching.Expiring(html, None)  # its kept sections hold until their versions change


def _statement(year: int) -> statement.Statement:
    profile = current_user.coach_profile
    if profile is None or not 2000 <= year <= _today().year:
        abort(404)
    return statement.statement_for(current_user.id, year, profile.currency)


@bp.get("/coach/earnings/statement/<int:year>")
@allow(Role.COACH)
def yearly_statement(year: int) -> Response:
    """The year's statement as a printable page."""
    return render("payouts/statement.html", statement=_statement(year), columns=statement.COLUMNS)


@bp.get("/coach/earnings/statement/<int:year>.csv")
@allow(Role.COACH)
def yearly_statement_csv(year: int) -> Response:
    response = Response(statement.as_csv(_statement(year)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="statement-{year}.csv"'
    return response


@bp.get("/coach/earnings/activity")
@allow(Role.COACH)
def activity() -> Response:
    page = _own(earnings.activity_page, _cursor())
    return render("payouts/activity.html", "payouts/_activity_rows.html", activity=page)


@bp.get("/coach/earnings/payouts")
@allow(Role.COACH)
def payouts() -> Response:
    page = _own(earnings.payouts_page, _cursor())
    return render("payouts/payouts.html", "payouts/_payout_rows.html", payouts=page)


def _own(read: Callable[[int, Named], T], named: Named) -> T:
    """`read(coach_id, named)` for the signed-in coach: 404 when what the request names (the
    last row shown, a payout) is not one of this coach's, which `read` says by LookupError."""
    try:
        return read(current_user.id, named)
    except LookupError:
        abort(404)


@bp.get("/coach/earnings/payouts/<int:payout_id>")
@allow(Role.COACH)
def payout_detail(payout_id: int) -> Response:
    """What one payout paid for, line by line."""
    found = _own(composition.composition_of, payout_id)
    return render("payouts/payout_detail.html", composition=found)


@bp.get("/coach/earnings/payouts/<int:payout_id>.csv")
@allow(Role.COACH)
def payout_detail_csv(payout_id: int) -> Response:
    found = _own(composition.composition_of, payout_id)
    response = Response(composition.as_csv(found), mimetype="text/csv")
    name = f"payout-{found.payout.created_at:%Y-%m-%d}-{payout_id}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _cursor() -> int | None:
    """`after=`: the id of the last row shown (400 when it is not an id)."""
    raw = request.args.get("after") or None
    if raw is None:
        return None
    try:
        return parse_int(raw)
    except BadRequestInput as exc:
        raise pagination.BadCursor(raw) from exc


# --- onboarding -------------------------------------------------------------------------------


@bp.route("/coach/earnings/get-paid", methods=["GET", "POST"])
@allow(Role.COACH)
def get_paid() -> Response:
    account = services.account_of(current_user.id)
    form = GetPaidForm()
    if request.method == "GET":
        form.country.data = current_app.config["PLATFORM_COUNTRY"]
    if form.validate_on_submit():
        on_error_go_to(url_for("payouts.get_paid"))
        account = services.start_onboarding(current_user.id, form.country.data)
        db.session.commit()
        return htmx_redirect(_onboarding_link(account))
    return render_form(
        form, "payouts/get_paid.html", account=account, requirements=_requirements_of(account)
    )


@bp.get("/coach/earnings/get-paid/refresh")
@allow(Role.COACH)
def onboarding_refresh() -> Response:
    """Stripe sends the coach here when a link expired or was used: make a fresh one."""
    account = services.account_of(current_user.id)
    if account is None:
        return redirect(url_for("payouts.get_paid"))
    try:
        return redirect(_onboarding_link(account), 303)
    except GatewayError as exc:
        flash(exc.message, "error")
        return redirect(url_for("payouts.get_paid"))


@bp.get("/coach/earnings/get-paid/return")
@allow(Role.COACH)
def onboarding_return() -> Response:
    """Back from Stripe: look at the account (server-side) and say where it stands.

    Coming back proves nothing; what Stripe says now is shown, and the portal's own record
    changes when `account.updated` arrives.
    """
    try:
        account = services.account_as_stripe_has_it(current_user.id)
    except GatewayError as exc:
        flash(exc.message, "error")
        account = services.account_of(current_user.id)
    if account is None:
        return redirect(url_for("payouts.get_paid"))
    return render(
        "payouts/get_paid.html",
        form=GetPaidForm(),
        account=account,
        requirements=_requirements_of(account),
        returned=True,
    )


def _onboarding_link(account) -> str:  # type: ignore[no-untyped-def]
    return services.onboarding_link(
        account,
        refresh_url=url_for("payouts.onboarding_refresh", _external=True),
        return_url=url_for("payouts.onboarding_return", _external=True),
    )


def _requirements_of(account) -> list[str]:  # type: ignore[no-untyped-def]
    if account is None:
        return []
    return services.describe_requirements((account.requirements or {}).get("currently_due"))


@bp.post("/coach/earnings/stripe-dashboard")
@allow(Role.COACH)
def express_dashboard() -> Response:
    submitted(ActionForm())
    on_error_go_to(url_for("payouts.dashboard"))
    return htmx_redirect(services.express_dashboard_link(current_user.id))


# --- payout settings and paying out -----------------------------------------------------------


@bp.route("/coach/earnings/settings", methods=["GET", "POST"])
@allow(Role.COACH)
@requires_confirmation
def settings() -> Response:
    profile = services.coach_profile(current_user.id)
    if profile is None:
        abort(404)
    form = PayoutSettingsForm(
        payout_schedule=profile.payout_schedule.value, minimum_payout=profile.minimum_payout
    )
    if form.validate_on_submit():
        try:
            services.update_payout_settings(
                current_user.id,
                schedule=PayoutSchedule(form.payout_schedule.data),
                minimum_payout=form.minimum_payout.data,
            )
            db.session.commit()
        except GatewayError as exc:
            db.session.rollback()
            flash(f"Your payout settings were not changed. {exc.message}", "error")
            return htmx_redirect(url_for("payouts.settings"))
        flash("Your payout settings are saved.", "success")
        return htmx_redirect(url_for("payouts.dashboard"))
    return render_form(
        form, "payouts/settings.html", "payouts/_settings_form.html", profile=profile
    )


@bp.route("/coach/earnings/pay-out", methods=["GET", "POST"])
@allow(Role.COACH)
def pay_out() -> Response:
    """GET asks the coach to confirm the amount; POST pays out exactly that amount, once."""
    profile = services.coach_profile(current_user.id)
    if profile is None:
        abort(404)
    form = PayOutNowForm()
    if form.validate_on_submit():
        amount = form.amount.money
        on_error_go_to(url_for("payouts.pay_out"))
        payout = services.pay_out_now(
            current_user.id, confirmed_amount=amount, attempt=form.attempt.data
        )
        db.session.commit()
        amount = format_money(payout.amount, payout.currency)
        flash(f"Your payout of {amount} is on its way to your bank.", "success")
        return htmx_redirect(url_for("payouts.dashboard"))
    if request.method == "POST":
        raise BadRequestInput(form_error_message(form))
    account = services.account_of(current_user.id)
    form.amount.data = str(profile.available_balance)
    form.attempt.data = secrets.token_urlsafe(16)
    return render("payouts/pay_out.html", form=form, profile=profile, account=account)


@bp.route("/coach/earnings/pay-out/instant", methods=["GET", "POST"])
@allow(Role.COACH)
def pay_out_instantly() -> Response:
    """GET shows Stripe's fee and what arrives on the card (or why an instant payout is not
    possible); POST pays out exactly the amount the coach saw, once."""
    form = PayOutInstantlyForm()
    if form.validate_on_submit():
        on_error_go_to(url_for("payouts.pay_out_instantly"))
        payout = services.pay_out_instantly(
            current_user.id, confirmed_amount=form.amount.money, attempt=form.attempt.data
        )
        db.session.commit()
        amount = format_money(payout.amount, payout.currency)
        flash(f"Your instant payout of {amount} is on its way to your debit card.", "success")
        return htmx_redirect(url_for("payouts.dashboard"))
    if request.method == "POST":
        raise BadRequestInput(form_error_message(form))
    try:
        offer, refusal = services.instant_offer(current_user.id), None
    except (services.PayoutError, GatewayError) as exc:  # not possible now: the page says why
        offer, refusal = None, exc.message
    if offer is not None:
        form.amount.data = str(offer.preview.arrives)
        form.attempt.data = secrets.token_urlsafe(16)
    return render("payouts/pay_out_instantly.html", form=form, offer=offer, refusal=refusal)
