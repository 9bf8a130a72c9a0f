"""Mentees' billing pages: cards, membership, invoices, and paying a booking with a saved card."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.billing import cards, membership, services
from portal.billing.forms import AttemptForm, SubscribeForm
from portal.bookings import hold, pricing, saved_card
from portal.bookings.links import checkout_urls, coach_page_of_slot
from portal.errors import on_error_go_to
from portal.extensions import db
from portal.forms import ActionForm, submitted
from portal.models import Role, SessionStatus
from portal.rendering import htmx_redirect, render
from portal.security import allow
from portal.stripe_gateway import GatewayError
from portal.stripe_gateway import checkout as checkout_gateway

T = TypeVar("T")

bp = Blueprint("billing", __name__, url_prefix="/billing")


@bp.app_context_processor
def billing_banner() -> dict[str, Any]:
    """A failed renewal shows on every page a mentee opens, with the way to fix it."""
    if not current_user.is_authenticated or current_user.role is not Role.MENTEE:
        return {"billing_alert": None}
    if not membership.needs_card_fix(current_user):
        return {"billing_alert": None}
    return {
        "billing_alert": {
            "message": "Your membership renewal payment failed. Update your card so your "
            "membership and its discount continue.",
            "url": url_for("billing.cards"),
            "link": "Fix your card",
        }
    }


# --- cards ------------------------------------------------------------------------------------


@bp.get("/cards", endpoint="cards")
@allow(Role.MENTEE)
def cards_page() -> Response:
    return _cards_response()


def _page_args() -> dict[str, str | None]:
    return {
        "after": request.args.get("after") or None,
        "before": request.args.get("before") or None,
    }


def _cards_response(error: str | None = None, status: int = 200) -> Response:
    # After a change (a POST) the first page is shown again, with the new default first.
    page = cards.cards_page(current_user.id, **(_page_args() if request.method == "GET" else {}))
    return render(
        "billing/cards.html",
        "billing/_cards.html",
        status,
        cards=page.rows,
        card_page=page,
        is_expired=cards.is_expired,
        add_form=AttemptForm(formdata=None),
        form=ActionForm(),
        error=error,
    )


@bp.post("/cards/add")
@allow(Role.MENTEE)
def add_card() -> Response:
    form = AttemptForm()
    if not form.validate_on_submit():
        flash("That request was out of date. Please press “Add a card” again.", "error")
        return htmx_redirect(url_for("billing.cards"))
    on_error_go_to(url_for("billing.cards"))
    url = services.start_card_setup(
        current_user,
        attempt=form.attempt.data,
        success_url=_card_saved_url(make_default=request.form.get("make_default") == "y"),
        cancel_url=url_for("billing.cards", _external=True),
    )
    db.session.commit()
    return htmx_redirect(url)


def _card_saved_url(*, make_default: bool) -> str:
    """Checkout's success_url for a card, carrying the mentee's "make it my default" choice."""
    choice = {"default": "y"} if make_default else {}
    url = url_for("billing.card_saved", _external=True, **choice)
    return url + ("&" if choice else "?") + "session_id={CHECKOUT_SESSION_ID}"


@bp.get("/cards/saved")
@allow(Role.MENTEE)
def card_saved() -> Response:
    """Checkout's success_url: read the session ourselves and save the card it collected.

    `default=y` (the mentee ticked "Make it my default card") makes the saved card the default.
    """
    saved = _complete_checkout(
        "setup",
        services.on_setup_checkout_completed,
        still_confirming="We are still confirming your new card with Stripe; it will appear "
        "shortly.",
    )
    if saved is None:
        return redirect(url_for("billing.cards"), 303)
    card = saved.card
    name = f"{card.brand.title()} ending {card.last4}"
    made_default = ""
    if request.args.get("default") == "y" and not card.is_default:
        on_error_go_to(url_for("billing.cards"))
        cards.make_default(current_user, card)
        db.session.commit()
        made_default = " It is now your default card."
    elif request.args.get("default") == "y":
        made_default = " It is your default card."
    if saved.already_on_file:
        flash(f"{name} is already on file, so we kept that one.{made_default}", "success")
    else:
        flash(f"{name} is saved.{made_default}", "success")
    return redirect(url_for("billing.cards"), 303)


def _complete_checkout(
    mode: str, fulfil: Callable[[dict[str, Any]], T], *, still_confirming: str
) -> T | None:
    """A Checkout success_url: retrieve the session server-side (the URL's id proves nothing),
    check it is the signed-in mentee's and of `mode`, and fulfil it as its webhook would.
    404 for anyone else's session; None (with a message) when Stripe cannot say yet."""
    session_id = request.args.get("session_id", "")
    if not session_id.startswith("cs_"):
        abort(404)
    try:
        session = checkout_gateway.retrieve_session(session_id)
    except GatewayError:
        db.session.rollback()
        flash(still_confirming, "info")
        return None
    if session.get("mode") != mode or not services.setup_checkout_owned_by(session, current_user):
        abort(404)
    try:
        result = fulfil(session)
    except GatewayError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return None
    db.session.commit()
    return result


@bp.post("/cards/<int:card_id>/default")
@allow(Role.MENTEE)
def make_default(card_id: int) -> Response:
    return _change_card(card_id, cards.set_default, "{card} is now your default card.")


@bp.post("/cards/<int:card_id>/remove")
@allow(Role.MENTEE)
def remove_card(card_id: int) -> Response:
    return _change_card(card_id, cards.remove_card, "{card} is removed.")


def _change_card(card_id: int, change: Any, done: str) -> Response:
    submitted(ActionForm())
    try:
        card = cards.card_of(current_user.id, card_id)
    except cards.CardNotFound:
        abort(404)
    name = f"{card.brand.title()} ending {card.last4}"
    try:
        change(current_user, card_id)
    except GatewayError as exc:
        db.session.rollback()
        return _card_change_failed(exc.message)
    db.session.commit()
    flash(done.format(card=name), "success")
    if request.headers.get("HX-Request"):
        return _cards_response()
    return redirect(url_for("billing.cards"), 303)


def _card_change_failed(message: str) -> Response:
    if request.headers.get("HX-Request"):
        return _cards_response(error=message, status=200)
    flash(message, "error")
    return redirect(url_for("billing.cards"), 303)


# --- paying a booking with the saved card -----------------------------------------------------


@bp.post("/slots/<int:slot_id>/pay-with-saved-card")
@allow(Role.MENTEE)
def pay_with_saved_card(slot_id: int) -> Response:
    """Hold the slot and charge the default card; on a decline, Checkout takes over."""
    submitted(ActionForm())
    on_error_go_to(coach_page_of_slot(slot_id))
    booking = hold.hold_slot(current_user, slot_id)
    db.session.commit()  # the hold stands before Stripe is asked
    try:
        paid = saved_card.pay_with_default_card(booking)
    except saved_card.SavedCardFailed as exc:  # still held: Checkout takes over
        db.session.commit()
        flash(exc.message, "warning")
        return htmx_redirect(url_for("billing.continue_to_checkout", booking_id=booking.id))
    db.session.commit()
    flash("Paid. Your session is booked.", "success")
    return htmx_redirect(url_for("coaches.booking_page", booking_id=paid.id))


@bp.get("/bookings/<int:booking_id>/checkout")
@allow(Role.MENTEE)
def continue_to_checkout(booking_id: int) -> Response:
    """After a saved card failed: the message, and the way on to the secure payment page."""
    booking = hold.booking_for(booking_id)
    if booking is None or booking.mentee_id != current_user.id:
        abort(404)
    if booking.status is not SessionStatus.PENDING_PAYMENT:
        return redirect(url_for("coaches.booking_page", booking_id=booking.id), 303)
    return render("billing/continue_to_checkout.html", booking=booking, form=ActionForm())


@bp.post("/bookings/<int:booking_id>/checkout")
@allow(Role.MENTEE)
def start_booking_checkout(booking_id: int) -> Response:
    submitted(ActionForm())
    booking = hold.booking_for(booking_id)
    if booking is None or booking.mentee_id != current_user.id:
        abort(404)
    if booking.status is not SessionStatus.PENDING_PAYMENT:
        return htmx_redirect(url_for("coaches.booking_page", booking_id=booking.id))
    on_error_go_to(url_for("coaches.coach_page", coach_id=booking.coach_id))
    if booking.stripe_checkout_session_id:
        url = checkout_gateway.retrieve_session(booking.stripe_checkout_session_id)["url"]
    else:
        url = hold.start_checkout(booking, **checkout_urls(booking))
    db.session.commit()
    if not url:
        return htmx_redirect(url_for("coaches.booking_page", booking_id=booking.id))
    return htmx_redirect(url)


# --- membership -------------------------------------------------------------------------------


@bp.get("/membership", endpoint="membership")
@allow(Role.MENTEE)
def membership_page() -> Response:
    return render(
        "billing/membership.html",
        subscription=membership.membership_of(current_user),
        amounts=membership.configured_amounts(),
        currency=membership.plan_currency(),
        discount=pricing.discount_percentage(),
        is_member=pricing.is_member(current_user),
        subscribe_form=SubscribeForm(formdata=None),
        attempt_form=AttemptForm(formdata=None),
        live=membership.LIVE,
    )


@bp.post("/membership/subscribe")
@allow(Role.MENTEE)
def subscribe() -> Response:
    form = SubscribeForm()
    if not form.validate_on_submit():
        flash("Choose monthly or yearly, then press Subscribe again.", "error")
        return htmx_redirect(url_for("billing.membership"))
    on_error_go_to(url_for("billing.membership"))
    url = membership.start_checkout(
        current_user,
        form.interval.data,
        attempt=form.attempt.data,
        success_url=url_for("billing.membership_started", _external=True)
        + "?session_id={CHECKOUT_SESSION_ID}",
        cancel_url=url_for("billing.membership", _external=True),
    )
    db.session.commit()
    return htmx_redirect(url)


@bp.get("/membership/started")
@allow(Role.MENTEE)
def membership_started() -> Response:
    """Checkout's success_url for the membership: read the session and mirror what it made."""
    subscription = _complete_checkout(
        "subscription",
        services.on_subscription_checkout_completed,
        still_confirming="We are still confirming your membership with Stripe.",
    )
    if subscription is not None:
        flash("Welcome! Your membership is active.", "success")
    return redirect(url_for("billing.membership"), 303)


@bp.get("/membership/cancel")
@allow(Role.MENTEE)
def cancel_membership_preview() -> Response:
    """What cancelling at period end means (no refund, the date it ends), then confirm."""
    on_error_go_to(url_for("billing.membership"))
    return render(
        "billing/cancel_membership.html",
        message=membership.cancel_preview(current_user),
        attempt_form=AttemptForm(formdata=None),
    )


@bp.post("/membership/cancel")
@allow(Role.MENTEE)
def cancel_membership() -> Response:
    return _set_cancel(True, "Your membership ends at the end of this period.")


@bp.post("/membership/resume")
@allow(Role.MENTEE)
def resume_membership() -> Response:
    return _set_cancel(False, "Your membership will renew as before.")


def _set_cancel(cancel: bool, done: str) -> Response:
    form = submitted(AttemptForm())
    on_error_go_to(url_for("billing.membership"))
    membership.set_cancel_at_period_end(current_user, cancel, request_token=form.attempt.data)
    db.session.commit()
    flash(done, "success")
    return htmx_redirect(url_for("billing.membership"))


@bp.post("/membership/manage")
@allow(Role.MENTEE)
def manage_membership() -> Response:
    """Open Stripe's customer portal for the mentee."""
    submitted(ActionForm())
    on_error_go_to(url_for("billing.membership"))
    url = membership.portal_url(
        current_user, return_url=url_for("billing.membership_returned", _external=True)
    )
    db.session.commit()
    return htmx_redirect(url)


@bp.get("/membership/returned")
@allow(Role.MENTEE)
def membership_returned() -> Response:
    """Back from the customer portal: read the membership and cards as Stripe has them now."""
    on_error_go_to(url_for("billing.membership"))
    subscription = membership.membership_of(current_user)
    if subscription is not None:
        membership.refresh_subscription(subscription.stripe_subscription_id)
    cards.sync_cards(current_user)
    db.session.commit()
    return redirect(url_for("billing.membership"), 303)


# --- invoices ---------------------------------------------------------------------------------


@bp.get("/invoices", endpoint="invoices")
@allow(Role.MENTEE)
def invoices_page() -> Response:
    page = membership.invoices_of(current_user.id, **_page_args())
    return render("billing/invoices.html", invoices=page.rows, invoice_page=page)


@bp.get("/invoices/<int:invoice_id>")
@allow(Role.MENTEE)
def invoice_page(invoice_id: int) -> Response:
    invoice = membership.invoice_of(current_user.id, invoice_id)
    if invoice is None:
        abort(404)
    return render("billing/invoice.html", invoice=invoice)
