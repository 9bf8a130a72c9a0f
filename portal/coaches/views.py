"""The coaches directory, coach pages, booking and paying, and each person's sessions.

Views parse, authorise, call one service and render; they commit. A booking is visible only to
its mentee and its coach (anyone else gets 404).
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from portal import caching, calendar_invites, pagination
from portal.bookings import cancellation, fulfilment, hold, links, pricing, saved_card
from portal.coaches import services
from portal.coaches.forms import CoachProfileForm, SlotForm
from portal.database import read_before_transaction
from portal.errors import on_error_go_to
from portal.extensions import db
from portal.forms import ActionForm, submitted
from portal.models import (
    Booking,
    CoachProfile,
    PaymentStatus,
    Role,
    SessionStatus,
    utcnow,
)
from portal.models.coaching import TOPICS
from portal.parsing import BadRequestInput, parse_money
from portal.rendering import htmx_redirect, is_htmx, render, render_form
from portal.security import PUBLIC, SIGNED_IN, allow, signed_in_user
from portal.stripe_gateway import GatewayError
from portal.stripe_gateway import checkout as checkout_gateway
from portal.templating import viewer_time_zone

bp = Blueprint("coaches", __name__)

# The payment is still being confirmed: the status fragment keeps polling.
CONFIRMING = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)


# --- browsing -----------------------------------------------------------------------------


def _page_args(after: str = "after", before: str = "before") -> dict[str, str | None]:
    """A list's cursors from the query string (validated by the service that reads them)."""
    return {"after": request.args.get(after) or None, "before": request.args.get(before) or None}


@bp.get("/")
@allow(PUBLIC)
def directory() -> Response:
    """The listed coaches, a page at a time. The page visitors share is kept whole, and each
    card under the coach's listing version: one query for a kept page, four whatever its size
    for a page with cards to render."""
    narrowed = _directory_filter()
    with read_before_transaction():  # a kept page reads nothing else
        page = services.listed_coaches(narrowed, **_page_args())
    percentage = pricing.percentage_for(signed_in_user())
    viewer = _viewer(percentage)
    # One statement reads every row, so they share the database's generation.
    generation = page.rows[0].database_generation if page.rows else ""
    listings = tuple((p.user_id, p.listing_changes) for p in page.rows)
    return caching.page(
        "coaches.directory",
        (
            "directory",
            generation,
            viewer,
            listings,
            page.prev_cursor,
            page.next_cursor,
            _query_args(),
        ),
        lambda: _render_directory(page, narrowed, generation, viewer, percentage),
    )


def _render_directory(
    page: pagination.Page,
    narrowed: services.DirectoryFilter,
    generation: str,
    viewer: tuple[object, ...],
    percentage: Decimal,
) -> caching.Expiring[str]:
    """The directory page around its cards, each kept under its version; it holds until the
    first of them changes with nothing written."""
    versions = {
        p.user_id: caching.Version(generation, (p.listing_changes, *viewer)) for p in page.rows
    }
    cards = caching.kept_many("coaches.card", versions, lambda ids: _render_cards(ids, percentage))
    html = render_template(
        "coaches/directory.html",
        cards=[cards[p.user_id].value for p in page.rows],
        listing=page,
        filter=narrowed,
        filter_args=narrowed.args(),
        search_max_length=services.SEARCH_MAX_LENGTH,
        topics=TOPICS,
    )
    return caching.Expiring(html, caching.earliest(*(card.until for card in cards.values())))


def _directory_filter() -> services.DirectoryFilter:
    """The directory's narrowing from the query string; 400 with a message when it is wrong."""
    name = (request.args.get("q") or "").strip()
    if len(name) > services.SEARCH_MAX_LENGTH:
        raise BadRequestInput(
            f"Search with at most {services.SEARCH_MAX_LENGTH} characters of a coach's name."
        )
    low, high = (
        parse_money(raw, what="a price") if (raw := (request.args.get(k) or "").strip()) else None
        for k in ("min_price", "max_price")
    )
    if low is not None and high is not None and low > high:
        raise BadRequestInput("The lowest price is above the highest: swap them and search again.")
    topic = request.args.get("topic") or ""
    if topic and topic not in TOPICS:
        raise BadRequestInput("Choose a topic from the list, or any topic.")
    return services.DirectoryFilter(name=name, topic=topic, min_price=low, max_price=high)


def _viewer(percentage: Decimal) -> tuple[object, ...]:
    """What, besides the data, makes a rendered listing differ between visitors."""
    return (percentage, viewer_time_zone())


def _query_args() -> tuple[tuple[str, str], ...]:
    return tuple(sorted(request.args.items(multi=True)))


def _render_cards(
    coach_ids: Collection[int], percentage: Decimal
) -> dict[int, caching.Expiring[Markup]]:
    """The directory cards of these coaches, read in three queries (profiles, their topics,
    open times) however many there are."""
    now = utcnow()
    profiles = {p.user_id: p for p in services.profiles_to_show(coach_ids)}
    slots = hold.open_slots_by_coach(list(profiles), now=now)
    cards = {
        coach_id: caching.Expiring(Markup(""), now)  # unlisted since the version read
        for coach_id in coach_ids
        if coach_id not in profiles
    }
    for coach_id, profile in profiles.items():
        cards[coach_id] = caching.Expiring(
            _render_part(
                "coaches/_coach_card.html",
                profile=profile,
                quote=pricing.quote_for_percentage(profile, percentage),
                slots=slots[coach_id],
                refundable=hold.is_refundable_if_booked,
            ),
            hold.shown_until(slots[coach_id], now),
        )
    return cards


def _render_part(template: str, **context: Any) -> Markup:
    return Markup(render_template(template, **context))  # noqa: S704 - autoescaped template


@bp.get("/coaches/<int:coach_id>")
@allow(PUBLIC)
def coach_page(coach_id: int) -> Response:
    """A coach's page. The page visitors share is kept whole under the coach's listing version:
    one query when it is kept, three when it is rendered. Signed-in visitors see their own
    price and booking buttons."""
    with read_before_transaction():  # a kept page reads nothing else
        listing = services.coach_listing(coach_id)
    if listing is None or not listing.is_active:
        abort(404)
    if not listing.is_published and not (
        current_user.is_authenticated and current_user.id == coach_id
    ):
        abort(404)
    return caching.page(
        "coaches.page",
        (
            "coach page",
            coach_id,
            caching.Version(listing.database_generation, (listing.listing_changes,)),
            _viewer(Decimal(0)),
            _query_args(),
        ),
        lambda: _render_coach_page(coach_id, _page_args()),
    )


def _coach_context(profile: CoachProfile, cursors: dict[str, str | None]) -> dict[str, Any]:
    slots = hold.open_slots_page(profile.user_id, **cursors)
    signed_in = current_user.is_authenticated
    return {
        "profile": profile,
        "slots": slots.rows,
        "slot_page": slots,
        "bookable": hold.coach_is_bookable(profile.user),
        "refundable": hold.is_refundable_if_booked,
        "quote": pricing.quote_for(profile, current_user),
        "saved_card": saved_card.default_card_of(current_user) if signed_in else None,
        # A form makes a CSRF token, and so a session cookie: only for who can post it.
        "form": ActionForm() if signed_in else None,
    }


def _render_coach_page(coach_id: int, cursors: dict[str, str | None]) -> caching.Expiring[str]:
    """The coach's page with one page of open times; it holds until the first of them starts
    or comes within the refund window."""
    profile = services.coach_profile_for(coach_id)
    if profile is None:  # removed since the version read
        abort(404)
    context = _coach_context(profile, cursors)
    return caching.Expiring(
        render_template("coaches/coach.html", **context),
        hold.shown_until(context["slots"], utcnow()),
    )


# --- booking and paying -------------------------------------------------------------------


@bp.post("/slots/<int:slot_id>/book")
@allow(Role.MENTEE)
def book(slot_id: int) -> Response:
    submitted(ActionForm())
    on_error_go_to(links.coach_page_of_slot(slot_id))
    booking = hold.hold_slot(current_user, slot_id)
    db.session.commit()  # the hold stands before Stripe is asked
    checkout_url = hold.start_checkout(
        booking, save_card=request.form.get("save_card") == "y", **links.checkout_urls(booking)
    )
    db.session.commit()
    return htmx_redirect(checkout_url)


@bp.get("/bookings/return")
@allow(Role.MENTEE)
def checkout_return() -> Response:
    """Stripe's success_url: look at the Checkout Session ourselves and fulfil from it."""
    session_id = request.args.get("session_id", "")
    booking = hold.booking_for_checkout(session_id) if session_id else None
    if booking is None or booking.mentee_id != current_user.id:
        abort(404)
    try:
        checkout_session = checkout_gateway.retrieve_session(session_id)
    except GatewayError:
        db.session.rollback()
        flash("We are still confirming your payment with Stripe; this page will update.", "info")
    else:
        fulfilment.fulfil_checkout(checkout_session)
        db.session.commit()
    return redirect(url_for("coaches.booking_page", booking_id=booking.id), 303)


@bp.get("/bookings/<int:booking_id>/checkout-canceled")
@allow(Role.MENTEE)
def checkout_canceled(booking_id: int) -> Response:
    """Stripe's cancel_url: the mentee left Checkout, so the time is released (idempotent)."""
    booking = _own_booking(booking_id, mentee_only=True)
    if not links.is_cancel_token_valid(booking, request.args.get("token")):
        abort(404)
    coach_id = booking.coach_id
    if booking.status is SessionStatus.PENDING_PAYMENT:
        on_error_go_to(url_for("coaches.booking_page", booking_id=booking_id))
        booking = fulfilment.abandon_checkout(booking)
        db.session.commit()
    if booking.status is SessionStatus.CANCELED:
        flash("You left the payment page, so nothing was charged and the time is free.", "info")
        return redirect(url_for("coaches.coach_page", coach_id=coach_id), 303)
    return redirect(url_for("coaches.booking_page", booking_id=booking_id), 303)


@bp.get("/bookings/<int:booking_id>")
@allow(SIGNED_IN)
def booking_page(booking_id: int) -> Response:
    return render("coaches/booking.html", **_booking_context(_own_booking(booking_id)))


@bp.get("/bookings/<int:booking_id>/status")
@allow(SIGNED_IN)
def booking_status(booking_id: int) -> Response:
    """The payment status fragment; it polls every 2 s while the payment is confirming."""
    context = _booking_context(_own_booking(booking_id))
    return render("coaches/booking.html", "coaches/_booking_status.html", **context)


def _booking_context(booking: Booking) -> dict[str, Any]:
    transaction = fulfilment.payment_transaction(booking)
    disputed = transaction is not None and transaction.is_disputed
    return {
        "booking": booking,
        "transaction": transaction,
        "refusal": cancellation.DISPUTED_MESSAGE if disputed else None,
        "deadline": hold.refund_deadline(booking),
        "form": ActionForm(),
        "confirming": CONFIRMING,
        "now": utcnow(),
    }


@bp.get("/bookings/<int:booking_id>/calendar.ics")
@allow(SIGNED_IN)
def booking_calendar(booking_id: int) -> Response:
    """The booking as a calendar file, for its mentee and its coach (anyone else gets 404)."""
    booking = _own_booking(booking_id)
    method = calendar_invites.download_method(booking)
    return Response(
        calendar_invites.booking_invite(booking, method),
        content_type=f"text/calendar; charset=utf-8; method={method}",
        headers={"Content-Disposition": f'attachment; filename="booking-{booking.id}.ics"'},
    )


@bp.get("/bookings/<int:booking_id>/cancel")
@allow(SIGNED_IN)
def cancel_preview(booking_id: int) -> Response:
    """What cancelling now gives back and which rule applies, with the button that confirms."""
    booking = _own_booking(booking_id)
    on_error_go_to(url_for("coaches.booking_page", booking_id=booking_id))
    preview = cancellation.preview_cancellation(booking, current_user)
    return render("coaches/cancel.html", booking=booking, preview=preview, form=ActionForm())


@bp.post("/bookings/<int:booking_id>/cancel")
@allow(SIGNED_IN)
def cancel_booking(booking_id: int) -> Response:
    submitted(ActionForm())
    page = url_for("coaches.booking_page", booking_id=booking_id)
    on_error_go_to(page)
    try:
        outcome = cancellation.cancel_booking(booking_id, current_user)
    except cancellation.BookingNotFound:
        abort(404)
    db.session.commit()  # the booking is canceled and the refund row exists before Stripe
    if outcome.refund is not None:
        try:
            cancellation.submit_refund(outcome.refund.id)
        except GatewayError as exc:
            if exc.keeps_changes:  # refused for good: the refund is recorded as failed
                db.session.commit()
                flash(f"{exc.message} The booking is canceled.", "error")
                return htmx_redirect(page)
            db.session.rollback()
            flash(
                f"{exc.message} The booking is canceled; press Cancel again to retry the refund.",
                "error",
            )
            return htmx_redirect(page)
        db.session.commit()
    flash(outcome.message, "success")
    return htmx_redirect(page)


def _own_booking(booking_id: int, *, mentee_only: bool = False) -> Booking:
    booking = hold.booking_for(booking_id)
    if booking is None:
        abort(404)
    allowed = {booking.mentee_id} if mentee_only else {booking.mentee_id, booking.coach_id}
    if current_user.id not in allowed:
        abort(404)
    return booking


# --- each person's sessions ---------------------------------------------------------------


def _sessions_context(**whose: int) -> dict:
    """The next upcoming sessions and one page of past ones, each paged by its own cursors
    (`upcoming_after`/`upcoming_before`, and `after`/`before`)."""
    now = utcnow()
    upcoming = hold.sessions_page(
        **whose,
        upcoming=True,
        size=hold.UPCOMING_PAGE_SIZE,
        now=now,
        **_page_args("upcoming_after", "upcoming_before"),
    )
    past = hold.sessions_page(**whose, upcoming=False, now=now, **_page_args())
    return {
        "upcoming": upcoming.rows,
        "past": past.rows,
        "upcoming_page": upcoming,
        "past_page": past,
        "page_args": request.args.to_dict(),
    }


@bp.get("/my/sessions")
@allow(Role.MENTEE)
def my_sessions() -> Response:
    not_completed = hold.not_completed_page(
        current_user.id, **_page_args("not_completed_after", "not_completed_before")
    )
    return render(
        "coaches/my_sessions.html",
        not_completed=not_completed.rows,
        not_completed_page=not_completed,
        **_sessions_context(mentee_id=current_user.id),
    )


@bp.get("/coach/schedule")
@allow(Role.COACH)
def my_schedule() -> Response:
    return render("coaches/my_schedule.html", **_sessions_context(coach_id=current_user.id))


# --- the coach's own profile and open times -----------------------------------------------


@bp.route("/coach/profile", methods=["GET", "POST"])
@allow(Role.COACH)
def my_profile() -> Response:
    profile = current_user.coach_profile
    form = CoachProfileForm(obj=profile)
    if not form.is_submitted():  # the form's topics are slugs, the profile's are rows
        form.topics.data = [t.topic for t in profile.topics]
    if form.validate_on_submit():
        services.update_profile(
            profile,
            headline=form.headline.data or "",
            bio=form.bio.data or "",
            session_price=form.session_price.data,
            currency=form.currency.data,
            session_minutes=form.session_minutes.data,
            is_published=form.is_published.data,
            topics=form.topics.data or [],
        )
        db.session.commit()
        flash("Your profile is saved.", "success")
        return htmx_redirect(url_for("coaches.my_profile"))
    return render_form(
        form,
        "coaches/my_profile.html",
        "coaches/_profile_form.html",
        profile=profile,
        checklist=services.setup_checklist(current_user),
        **_slots_context(
            _slot_form(formdata=None, duration_minutes=profile.session_minutes), **_page_args()
        ),
    )


@bp.post("/coach/slots")
@allow(Role.COACH)
def add_slot() -> Response:
    form = _slot_form()
    error = None
    if form.validate_on_submit() and form.starts_at_utc is not None:
        try:
            services.add_slot(current_user, form.starts_at_utc, form.duration_minutes.data)
        except services.SlotError as exc:
            db.session.rollback()
            error = exc.message
            form.starts_at.errors = [*form.starts_at.errors, exc.message]  # beside the field
        else:
            db.session.commit()
            return _slots_response(
                _slot_form(formdata=None, duration_minutes=form.duration_minutes.data)
            )
    return _slots_response(form, error, status=400)


@bp.post("/coach/slots/<int:slot_id>/delete")
@allow(Role.COACH)
def remove_slot(slot_id: int) -> Response:
    submitted(ActionForm())
    error = None
    try:
        services.remove_slot(current_user, slot_id)
    except services.SlotError as exc:
        db.session.rollback()
        error = exc.message
    else:
        db.session.commit()
    profile = current_user.coach_profile
    return _slots_response(
        _slot_form(formdata=None, duration_minutes=profile.session_minutes),
        error,
        status=400 if error else 200,
    )


def _slot_form(**kwargs: object) -> SlotForm:
    """The open-time form, read on the signed-in coach's clock."""
    return SlotForm(current_user.time_zone, **kwargs)


def _slots_context(
    slot_form: SlotForm,
    error: str | None = None,
    *,
    after: str | None = None,
    before: str | None = None,
) -> dict:
    page = services.slots_of(current_user.id, after=after, before=before)
    return {
        "slots": page.rows,
        "slot_page": page,
        "held": services.held_slot_ids(current_user.id, [slot.id for slot in page.rows]),
        "slot_form": slot_form,
        "slot_error": error,
        "action_form": ActionForm(),
    }


def _slots_response(slot_form: SlotForm, error: str | None = None, status: int = 200) -> Response:
    if not is_htmx():
        if error:
            flash(error, "error")
        elif status == 400:
            problems = slot_form.starts_at.errors or slot_form.duration_minutes.errors
            flash(problems[0] if problems else "Check the time you entered.", "error")
        return redirect(url_for("coaches.my_profile"), 303)
    return render(
        "coaches/_slots.html",
        "coaches/_slots.html",
        status if (error or status == 400) else 200,
        **_slots_context(slot_form, error),
    )
