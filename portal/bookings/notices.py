"""What a booking's mentee and coach are told by email, queued in the booking's own unit of
work (`portal.outbox`): nothing is sent for work that rolls back. Each person reads the time
on their own clock (`portal.time_zones.show_time`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from portal.calendar_invites import CANCEL, REQUEST, invite_attachment
from portal.extensions import db
from portal.models import Booking, SessionStatus, User, utcnow
from portal.money import format_money
from portal.outbox import already_queued, queue_mail
from portal.time_zones import show_time

REMINDER_AHEAD = timedelta(hours=24)


def booking_confirmed(booking: Booking, receipt_url: str | None) -> None:
    """The mentee gets the confirmation, Stripe's receipt and an invitation; the coach hears."""
    when = show_time(booking.starts_at, booking.mentee.time_zone)
    coach_when = show_time(booking.starts_at, booking.coach.time_zone)
    invite = invite_attachment(booking, REQUEST)
    queue_mail(
        "booking.confirmed",
        booking.mentee,
        f"Booked: {booking.coach.name}, {when}",
        "booking_confirmed",
        attachments=[invite],
        booking=booking,
        when=when,
        price=format_money(booking.price_amount, booking.currency),
        receipt_url=receipt_url,
    )
    queue_mail(
        "booking.new_for_coach",
        booking.coach,
        f"New booking: {booking.mentee.name}, {coach_when}",
        "coach_new_booking",
        attachments=[invite],
        booking=booking,
        when=coach_when,
        share=format_money(booking.coach_share, booking.currency),
    )


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
            f"Tomorrow: your session with {booking.coach.name}, {when}",
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
