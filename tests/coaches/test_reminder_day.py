"""A reminder's subject on the reader's clock: the job that sends them runs all day, so a session
it reminds of may be later today, not tomorrow (a booking made a few hours ahead, a run in the
evening before a late session). The subject names the session's day and time, never a day word
that is wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from portal.bookings import notices
from portal.extensions import db
from portal.models import Booking
from tests.mailbox import messages

# 14:00 UTC on a winter Friday: 23:00 in Tokyo, 09:00 in New York.
STARTS = datetime(2027, 1, 15, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "hours_ahead", "when"),
    [
        ("UTC", 3, "Fri 15 Jan 2027, 14:00 UTC"),  # booked this morning, for this afternoon
        ("Asia/Tokyo", 2, "Fri 15 Jan 2027, 23:00 JST"),  # an evening run, a late session
        ("America/New_York", 12, "Fri 15 Jan 2027, 09:00 EST"),  # the evening before
    ],
)
def test_a_reminder_names_the_sessions_day_as_the_mentee_reads_it(
    app: Flask, paid_booking: Booking, zone: str, hours_ahead: int, when: str
) -> None:
    paid_booking.starts_at = STARTS
    paid_booking.mentee.time_zone = zone
    db.session.commit()
    before = len(messages(app))
    assert notices.send_reminders(STARTS - timedelta(hours=hours_ahead)) == 1
    db.session.commit()
    [reminder] = messages(app)[before:]
    assert reminder["Subject"] == f"Reminder: your session with Grace Hopper, {when}"
