"""Holding a slot for a mentee: open slots, the hold, pricing it, sending the mentee to Checkout.

What this module promises:

- A slot is held by at most one booking at a time. The database's partial unique index
  (`uq_coaching_sessions_slot_held`) is the guard; losing the race is `SlotTaken`.
- The booking keeps the quote it was held at (`pricing.quote_for`: list price, member
  discount, fee, coach's share, currency), which always adds up (`money.split_fee`). A price
  Stripe cannot charge is refused before anything is made.
- A coach whose connected account cannot take charges is not bookable (`CoachNotBookable`).
- When Stripe cannot be reached while starting Checkout, the booking is canceled (its slot free
  again) and `CheckoutUnavailable` carries the message; nothing was charged.

Services add and flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal import pagination
from portal.bookings import pricing
from portal.errors import EmailNotVerified, PortalError
from portal.extensions import db
from portal.models import (
    AvailabilitySlot,
    Booking,
    PaymentStatus,
    Role,
    SessionStatus,
    User,
    utcnow,
)
from portal.models.coaching import HOLDING_STATUSES
from portal.money import MoneyError, check_chargeable
from portal.stripe_gateway import GatewayError
from portal.stripe_gateway import checkout as checkout_gateway
from portal.stripe_gateway import customers as customers_gateway
from portal.time_zones import show_time

# How long before the start a mentee may still cancel for a full refund.
REFUND_WINDOW = timedelta(hours=24)
OPEN_SLOTS_PAGE_SIZE = 20
SESSIONS_PAGE_SIZE = 20
UPCOMING_PAGE_SIZE = 10
# Unpaid holds a mentee may have at once, so no one can keep a coach's times from others.
MAX_UNPAID_HOLDS = 2
E = TypeVar("E", bound=PortalError)


class BookingError(PortalError):
    """A booking step that cannot go ahead; `message` tells the person what to do."""


class SlotTaken(BookingError):
    def __init__(self) -> None:
        super().__init__("That time was just taken — pick another.")


class SlotUnavailable(BookingError):
    def __init__(self) -> None:
        super().__init__("That time is no longer offered. Pick another open time.")


class CoachNotBookable(BookingError):
    def __init__(self, *, keeps_changes: bool = False) -> None:
        super().__init__(
            "This coach has not finished setting up payments yet, so they cannot be booked. "
            "Please check back later.",
            keeps_changes=keeps_changes,
        )


class PriceNotChargeable(BookingError):
    """The coach's price is outside what Stripe can charge."""


class TooManyHolds(BookingError):
    def __init__(self) -> None:
        super().__init__(
            f"You already have {MAX_UNPAID_HOLDS} bookings waiting for payment. Pay for one or "
            "cancel it on My sessions before you hold another time."
        )


class CheckoutUnavailable(BookingError):
    """Stripe could not start Checkout; the booking was canceled and its slot released."""


# --- what can be booked -------------------------------------------------------------------


def slots_soonest_first(
    *conditions: ColumnElement[bool], after: str | None, before: str | None, size: int
) -> pagination.Page:
    """One page of the slots meeting `conditions`, soonest first (keyset on (starts_at, id)).

    Raises `pagination.BadCursor` for a page link that does not parse.
    """
    return pagination.fetch_page(
        select(AvailabilitySlot).where(*conditions),
        key=AvailabilitySlot.starts_at,
        row_id=AvailabilitySlot.id,
        kind="datetime",
        descending=False,
        after=after,
        before=before,
        size=size,
    )


def _slot_is_held():  # type: ignore[no-untyped-def]
    return exists().where(
        Booking.slot_id == AvailabilitySlot.id,
        Booking.status.in_(HOLDING_STATUSES),
    )


def _open_slot_conditions(coach_id: int, now: datetime | None) -> tuple:  # type: ignore[type-arg]
    return (
        AvailabilitySlot.coach_id == coach_id,
        AvailabilitySlot.starts_at > (now or utcnow()),
        ~_slot_is_held(),
    )


def open_slots_page(
    coach_id: int,
    *,
    after: str | None = None,
    before: str | None = None,
    size: int = OPEN_SLOTS_PAGE_SIZE,
    now: datetime | None = None,
) -> pagination.Page:
    """One page of the coach's open slots, soonest first."""
    return slots_soonest_first(
        *_open_slot_conditions(coach_id, now), after=after, before=before, size=size
    )


def open_slots_by_coach(
    coach_ids: Sequence[int], *, per_coach: int = 3, now: datetime | None = None
) -> dict[int, list[AvailabilitySlot]]:
    """The next few open slots of each coach, for the directory, in ONE query.

    `row_number()` over each coach's open slots (soonest first) keeps the first `per_coach`
    of each, so a page of coaches costs one query however many coaches or slots there are.
    Window functions work alike on SQLite (3.25+) and PostgreSQL.
    """
    if not coach_ids:
        return {}
    position = (
        sa.func.row_number()
        .over(
            partition_by=AvailabilitySlot.coach_id,
            order_by=(AvailabilitySlot.starts_at, AvailabilitySlot.id),
        )
        .label("position")
    )
    ranked = (
        select(AvailabilitySlot.id.label("slot_id"), position)
        .where(
            AvailabilitySlot.coach_id.in_(coach_ids),
            AvailabilitySlot.starts_at > (now or utcnow()),
            ~_slot_is_held(),
        )
        .subquery()
    )
    query = (
        select(AvailabilitySlot)
        .join(ranked, ranked.c.slot_id == AvailabilitySlot.id)
        .where(ranked.c.position <= per_coach)
        .order_by(AvailabilitySlot.coach_id, AvailabilitySlot.starts_at, AvailabilitySlot.id)
    )
    result: dict[int, list[AvailabilitySlot]] = {coach_id: [] for coach_id in coach_ids}
    for slot in db.session.scalars(query):
        result[slot.coach_id].append(slot)
    return result


def coach_is_bookable(coach: User) -> bool:
    """Only a coach whose connected account can take charges may be booked."""
    account = coach.stripe_connected_account
    return bool(
        coach.role is Role.COACH
        and coach.is_active
        and coach.coach_profile is not None
        and account is not None
        and account.charges_enabled
    )


# --- holding a slot -----------------------------------------------------------------------


def hold_slot(mentee: User, slot_id: int, *, now: datetime | None = None) -> Booking:
    """Make a `pending_payment` booking holding the slot, priced exactly; flushed.

    Raises `EmailNotVerified`, `SlotUnavailable`, `CoachNotBookable`, `PriceNotChargeable`,
    `TooManyHolds` (nothing made) or `SlotTaken` (another booking holds it; nothing made).
    """
    if not mentee.email_verified:
        raise EmailNotVerified()
    _check_unpaid_holds(mentee.id)
    slot = db.session.get(AvailabilitySlot, slot_id, options=[joinedload(AvailabilitySlot.coach)])
    if slot is None or slot.starts_at <= (now or utcnow()):
        raise SlotUnavailable()
    coach = slot.coach
    if not coach_is_bookable(coach):
        raise CoachNotBookable()
    profile = coach.coach_profile
    assert profile is not None  # coach_is_bookable checked it
    quote = pricing.quote_for(profile, mentee)
    split = quote.split
    try:
        check_chargeable(split.price, profile.currency)
    except MoneyError as exc:
        raise PriceNotChargeable(
            f"This session cannot be paid online: {exc} Please ask the coach to update their price."
        ) from exc
    booking = Booking(
        coach_id=coach.id,
        mentee_id=mentee.id,
        slot_id=slot.id,
        starts_at=slot.starts_at,
        duration_minutes=slot.duration_minutes,
        status=SessionStatus.PENDING_PAYMENT,
        payment_status=PaymentStatus.PENDING,
        price_amount=split.price,
        currency=profile.currency,
        platform_fee_amount=split.platform_fee,
        coach_share=split.coach_share,
        discount_amount=quote.discount,
        discount_percentage=quote.percentage.quantize(Decimal("0.01")),
    )
    try:
        with db.session.begin_nested():
            db.session.add(booking)
    except IntegrityError as exc:
        if "uq_coaching_sessions_slot_held" in str(exc.orig) or _slot_index_hit(exc):
            raise SlotTaken() from exc
        raise
    return booking


def _check_unpaid_holds(mentee_id: int) -> None:
    """At most `MAX_UNPAID_HOLDS` unpaid bookings per mentee: the mentee's row lock makes two
    concurrent holds take turns, so they cannot both see room for one more."""
    db.session.execute(select(User.id).where(User.id == mentee_id).with_for_update())
    unpaid = db.session.scalar(
        select(sa.func.count())
        .select_from(Booking)
        .where(
            Booking.mentee_id == mentee_id,
            Booking.status == SessionStatus.PENDING_PAYMENT,
        )
    )
    if unpaid >= MAX_UNPAID_HOLDS:
        raise TooManyHolds()


def _slot_index_hit(exc: IntegrityError) -> bool:
    # SQLite names the columns, not the index: "UNIQUE constraint failed: coaching_sessions.slot_id"
    return "coaching_sessions.slot_id" in str(exc.orig)


# --- Checkout -----------------------------------------------------------------------------


def product_name(booking: Booking) -> str:
    """What Checkout says the mentee is paying for, with the time on the mentee's clock."""
    when = show_time(booking.starts_at, booking.mentee.time_zone)
    return f"Session with {booking.coach.name} on {when}"


def start_checkout(
    booking: Booking, *, success_url: str, cancel_url: str, save_card: bool = False
) -> str:
    """Create the booking's Checkout Session and return the URL to send the mentee to.

    `success_url` should carry `{CHECKOUT_SESSION_ID}`. `save_card` keeps the card on the
    mentee's Stripe customer for later bookings. On a gateway error the booking is canceled
    (flushed) and `CheckoutUnavailable` raised with a message for the mentee.
    """
    destination = bookable_destination(booking)
    try:
        customer_id = customers_gateway.ensure_customer(booking.mentee)
        session = checkout_gateway.create_booking_session(
            booking,
            customer_id=customer_id,
            destination_account=destination,
            product_name=product_name(booking),
            success_url=success_url,
            cancel_url=cancel_url,
            save_card=save_card,
        )
    except GatewayError as exc:
        raise released_for(booking, exc, CheckoutUnavailable) from exc
    booking.stripe_checkout_session_id = session["id"]
    db.session.flush()
    return session["url"]


def bookable_destination(booking: Booking) -> str:
    """The coach's connected account to pay; if it cannot take charges, the hold is released
    (kept) and `CoachNotBookable` raised."""
    account = booking.coach.stripe_connected_account
    if account is None or not account.charges_enabled:
        release_booking(booking, PaymentStatus.CANCELED)
        raise CoachNotBookable(keeps_changes=True)
    return account.stripe_account_id


def released_for(booking: Booking, exc: GatewayError, error: type[E]) -> E:
    """Release the hold because Stripe could not be asked to take the payment, and return the
    `error` that tells the mentee so; it keeps the release (the slot is free again)."""
    release_booking(booking, PaymentStatus.CANCELED)
    return error(
        f"{exc.message} Your booking was not made and the time is free again.",
        keeps_changes=True,
    )


def release_booking(booking: Booking, payment_status: PaymentStatus) -> None:
    """Cancel an unpaid booking: its slot is free again for anyone; flushed."""
    booking.status = SessionStatus.CANCELED
    booking.payment_status = payment_status
    db.session.flush()


# --- reading bookings ---------------------------------------------------------------------


def booking_for(booking_id: int, *, lock: bool = False) -> Booking | None:
    query = select(Booking).where(Booking.id == booking_id)
    if lock:
        # Whoever changes a booking tells its two people, so they are read with the row (the
        # lock stays on the booking alone).
        query = query.options(
            joinedload(Booking.mentee, innerjoin=True), joinedload(Booking.coach, innerjoin=True)
        ).with_for_update(of=Booking)
        return db.session.execute(
            query.execution_options(populate_existing=True)
        ).scalar_one_or_none()
    return db.session.scalar(query)


def booking_for_checkout(session_id: str) -> Booking | None:
    query = select(Booking).where(Booking.stripe_checkout_session_id == session_id)
    return db.session.scalar(query)


# An attempt that never became a session: its payment failed or it was released unpaid.
NOT_COMPLETED = sa.and_(
    Booking.status == SessionStatus.CANCELED,
    Booking.payment_status.in_((PaymentStatus.FAILED, PaymentStatus.CANCELED)),
)


def not_completed_page(
    mentee_id: int,
    *,
    after: str | None = None,
    before: str | None = None,
    size: int = SESSIONS_PAGE_SIZE,
) -> pagination.Page:
    """One page of a mentee's failed and abandoned attempts, newest first; nothing was charged.

    Raises `pagination.BadCursor` for a page link that does not parse.
    """
    query = (
        select(Booking)
        .where(Booking.mentee_id == mentee_id, NOT_COMPLETED)
        .options(joinedload(Booking.coach))
    )
    return pagination.fetch_page(
        query,
        key=Booking.created_at,
        row_id=Booking.id,
        kind="datetime",
        descending=True,
        after=after,
        before=before,
        size=size,
    )


def sessions_page(
    *,
    mentee_id: int | None = None,
    coach_id: int | None = None,
    upcoming: bool,
    after: str | None = None,
    before: str | None = None,
    size: int = SESSIONS_PAGE_SIZE,
    now: datetime | None = None,
) -> pagination.Page:
    """One page of a mentee's (or a coach's) sessions, keyset on (starts_at, id).

    Upcoming sessions come soonest first, past ones most recent first. Failed and abandoned
    attempts are not sessions (`not_completed_page` lists a mentee's), and a coach does not see
    bookings still waiting for payment either; the other party is loaded in the same query.
    Raises `pagination.BadCursor` for a page link that does not parse.
    """
    moment = now or utcnow()
    query = select(Booking).where(~NOT_COMPLETED)
    if mentee_id is not None:
        query = query.where(Booking.mentee_id == mentee_id).options(joinedload(Booking.coach))
    elif coach_id is not None:
        query = query.where(
            Booking.coach_id == coach_id,
            Booking.status != SessionStatus.PENDING_PAYMENT,
        ).options(joinedload(Booking.mentee))
    else:
        raise ValueError("sessions_page needs a mentee_id or a coach_id")
    when = Booking.starts_at > moment if upcoming else Booking.starts_at <= moment
    return pagination.fetch_page(
        query.where(when),
        key=Booking.starts_at,
        row_id=Booking.id,
        kind="datetime",
        descending=not upcoming,
        after=after,
        before=before,
        size=size,
    )


def is_refundable_if_booked(slot: AvailabilitySlot, *, now: datetime | None = None) -> bool:
    """Booked now, could the mentee still cancel for a refund? Not within 24 hours of the start."""
    return slot.starts_at - REFUND_WINDOW > (now or utcnow())


def shown_until(slots: Sequence[AvailabilitySlot], now: datetime) -> datetime | None:
    """When a list of these open times changes with nothing written: the first of them to
    start (it is no longer open) or to come within the refund window (no longer refundable)."""
    moments = [
        slot.starts_at - REFUND_WINDOW if is_refundable_if_booked(slot, now=now) else slot.starts_at
        for slot in slots
    ]
    return min(moments, default=None)


def refund_deadline(booking: Booking) -> datetime:
    """The last moment a mentee may cancel and get their money back."""
    return booking.starts_at - REFUND_WINDOW
