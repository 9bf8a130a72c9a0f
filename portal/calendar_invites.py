"""Calendar invitations (`.ics`, RFC 5545) for bookings, made with `icalendar`.

One booking is one event whose UID never changes, so a calendar that took the invitation
updates it: `METHOD:REQUEST` when it is booked, `METHOD:CANCEL` (with a higher SEQUENCE) when
it is canceled. The booking page's download is the same event as it stands (`PUBLISH`, which
RFC 5546 allows without attendees, or `CANCEL` once canceled), so a calendar that imported it
still takes the cancellation mailed later. Times are written in UTC; each calendar shows them
in its owner's zone.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from icalendar import Calendar, Event, vCalAddress, vText

from portal.models import Booking, SessionStatus, utcnow
from portal.outbox import link

REQUEST = "REQUEST"
CANCEL = "CANCEL"
PUBLISH = "PUBLISH"


def download_method(booking: Booking) -> str:
    """What the booking page's download says: the booking as it stands."""
    return CANCEL if booking.is_canceled else PUBLISH


def _status(booking: Booking, method: str) -> str:
    if method == CANCEL:
        return "CANCELLED"
    return "TENTATIVE" if booking.status is SessionStatus.PENDING_PAYMENT else "CONFIRMED"


def booking_invite(booking: Booking, method: str = REQUEST) -> str:
    """The booking as an iCalendar file's text."""
    calendar = Calendar()
    calendar.add("prodid", "-//Coaching portal//Bookings//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    host = urlsplit(current_app.config["PORTAL_URL"]).hostname or "localhost"
    event.add("uid", f"booking-{booking.id}@{host}")
    event.add("sequence", 1 if method == CANCEL else 0)
    event.add("status", _status(booking, method))
    event.add("summary", f"Coaching session with {booking.coach.name}")
    event.add("dtstamp", utcnow())
    event.add("dtstart", booking.starts_at)
    event.add("dtend", booking.starts_at + timedelta(minutes=booking.duration_minutes))
    url = link("coaches.booking_page", booking_id=booking.id)
    event.add("url", url)
    event.add("description", f"Your booking: {url}")
    organizer = vCalAddress(f"mailto:{booking.coach.email}")
    organizer.params["cn"] = vText(booking.coach.name)
    event.add("organizer", organizer)
    if method != PUBLISH:  # a published event names no attendees (RFC 5546, 3.2.1)
        attendee = vCalAddress(f"mailto:{booking.mentee.email}")
        attendee.params["cn"] = vText(booking.mentee.name)
        event.add("attendee", attendee)
    calendar.add_component(event)
    return calendar.to_ical().decode()


def invite_attachment(booking: Booking, method: str = REQUEST) -> dict[str, str]:
    """The invitation as an outbox attachment."""
    name = "cancel" if method == CANCEL else "invite"
    return {
        "filename": f"booking-{booking.id}-{name}.ics",
        "content_type": f"text/calendar; method={method}",
        "content": booking_invite(booking, method),
    }
