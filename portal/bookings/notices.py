"""What a booking's mentee and coach are told by email, queued in the booking's own unit of
work (`portal.outbox`): nothing is sent for work that rolls back."""

from __future__ import annotations

from decimal import Decimal

from portal.calendar_invites import CANCEL, REQUEST, invite_attachment
from portal.models import Booking, User
from portal.money import format_money
from portal.outbox import queue_mail


def _when(booking: Booking) -> str:
    return booking.starts_at.strftime("%a %d %b %Y, %H:%M UTC")


def booking_confirmed(booking: Booking, receipt_url: str | None) -> None:
    """The mentee gets the confirmation, Stripe's receipt and an invitation; the coach hears."""
    when = _when(booking)
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
        f"New booking: {booking.mentee.name}, {when}",
        "coach_new_booking",
        attachments=[invite],
        booking=booking,
        when=when,
        share=format_money(booking.coach_payout_amount, booking.currency),
    )


def booking_canceled(booking: Booking, by: User, refund_amount: Decimal | None) -> None:
    """Both people hear of a cancellation, with what is refunded, and their calendars drop it."""
    when = _when(booking)
    cancel = invite_attachment(booking, CANCEL)
    refund = format_money(refund_amount, booking.currency) if refund_amount else None
    for person, kind in ((booking.mentee, "mentee"), (booking.coach, "coach")):
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
