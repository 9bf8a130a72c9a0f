"""What a booking's mentee and coach are told by email, queued in the booking's own unit of
work (`portal.outbox`): nothing is sent for work that rolls back. Each person reads the time
on their own clock (`portal.time_zones.show_time`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from portal.calendar_invites import CANCEL, REQUEST, invite_attachment
from portal.extensions import db
from portal.models import Booking, SessionStatus, Transaction, TransactionType, User, utcnow
from portal.money import format_money
from portal.outbox import Letter, NotOwed, already_queued, composes, queue_composed, queue_mail
from portal.time_zones import show_time

REMINDER_AHEAD = timedelta(hours=24)


def booking_confirmed(booking: Booking | sa.Row[Any]) -> None:
    """The mentee gets the confirmation, Stripe's receipt and an invitation; the coach hears.

    The payment's work writes the two rows; the delivery writes the messages (below).
    """
    queue_composed(
        booking.id,
        {"booking.confirmed": booking.mentee_id, "booking.new_for_coach": booking.coach_id},
    )


@composes("booking.confirmed")
def _confirmation(booking_id: int, mentee: User) -> Letter:
    booking = _booking(booking_id)
    when = show_time(booking.starts_at, mentee.time_zone)
    return Letter(
        f"Booked: {booking.coach.name}, {when}",
        "booking_confirmed",
        {
            "booking": booking,
            "when": when,
            "price": format_money(booking.price_amount, booking.currency),
            "receipt_url": _receipt_url(booking_id),
        },
        attachments=[invite_attachment(booking, REQUEST)],
    )


@composes("booking.new_for_coach")
def _new_booking(booking_id: int, coach: User) -> Letter:
    booking = _booking(booking_id)
    when = show_time(booking.starts_at, coach.time_zone)
    return Letter(
        f"New booking: {booking.mentee.name}, {when}",
        "coach_new_booking",
        {
            "booking": booking,
            "when": when,
            "share": format_money(booking.coach_share, booking.currency),
        },
        attachments=[invite_attachment(booking, REQUEST)],
    )


def _booking(booking_id: int) -> Booking:
    """The booking as it is now, read with its two people, whom each message names.

    Its messages are written at delivery, after the payment's commit: a booking canceled since
    (in the same request, or before a late retry) must not be announced with an invitation that
    puts it back in calendars, so its confirmation is not owed any more.
    """
    booking = db.session.get(
        Booking, booking_id, options=[joinedload(Booking.mentee), joinedload(Booking.coach)]
    )
    if booking is None:
        raise LookupError(f"Booking {booking_id} does not exist.")
    if booking.status is not SessionStatus.CONFIRMED:
        raise NotOwed(f"booking {booking_id} is {booking.status.value}, no longer confirmed")
    return booking


def _receipt_url(booking_id: int) -> str | None:
    """Stripe's receipt for the booking's payment, as its transaction recorded it."""
    meta = db.session.scalar(
        sa.select(Transaction.meta)
        .where(
            Transaction.session_id == booking_id,
            Transaction.type == TransactionType.SESSION_PAYMENT,
        )
        .order_by(Transaction.id)
        .limit(1)
    )
    return (meta or {}).get("receipt_url")


def send_reminders(now: datetime | None = None) -> int:
    """Remind each mentee of a confirmed booking starting within `REMINDER_AHEAD`, once each
    (the message's dedupe key); returns how many were queued. Flushed, not committed."""
    now = now or utcnow()
    due = db.session.scalars(
        sa.select(Booking).where(
            Booking.status == SessionStatus.CONFIRMED,
            Booking.starts_at > now,
            Booking.starts_at <= now + REMINDER_AHEAD,
        )
    ).all()
    queued = 0
    for booking in due:
        key = f"booking.reminder:{booking.id}"
        if already_queued(key):
            continue
        when = show_time(booking.starts_at, booking.mentee.time_zone)
        message = queue_mail(
            "booking.reminder",
            booking.mentee,
            # The job runs all day: the session may be later today, so no day word, its date.
            f"Reminder: your session with {booking.coach.name}, {when}",
            "booking_reminder",
            dedupe_key=key,
            optional=True,
            booking=booking,
            when=when,
        )
        queued += message is not None
    return queued


def booking_canceled(booking: Booking, by: User, refund_amount: Decimal | None) -> None:
    """Both people hear of a cancellation, with what is refunded, and their calendars drop it."""
    cancel = invite_attachment(booking, CANCEL)
    refund = format_money(refund_amount, booking.currency) if refund_amount else None
    for person, kind in ((booking.mentee, "mentee"), (booking.coach, "coach")):
        when = show_time(booking.starts_at, person.time_zone)
        queue_mail(
            f"booking.canceled_{kind}",
            person,
            f"Canceled: {'your session' if kind == 'mentee' else 'session'} of {when}",
            "booking_canceled",
            attachments=[cancel],
            booking=booking,
            when=when,
            by_self=person.id == by.id,
            by=by,
            refund=refund,
            for_mentee=kind == "mentee",
        )
