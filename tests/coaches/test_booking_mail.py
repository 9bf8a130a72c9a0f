"""What a booking's mentee and coach hear by email: the confirmation with Stripe's receipt and a
calendar invitation, the coach's new booking, and a cancellation that drops the invitation."""

from __future__ import annotations

import shutil
from datetime import UTC, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar

from portal import outbox
from portal.bookings import notices
from portal.extensions import db
from portal.models import AvailabilitySlot, Booking, OutboxMessage, utcnow
from portal.models.mail import FAILED, PENDING, SENT, SKIPPED
from tests.coaches.conftest import book_slot, only_booking, post_form
from tests.mailbox import html_of, links_in, messages, text_of
from tests.stripe_fake import FakeStripe


def _ics(message) -> Calendar:  # type: ignore[no-untyped-def]
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(part.get_payload(decode=True))


def test_a_paid_booking_mails_the_mentee_a_receipt_and_invitation_and_tells_the_coach(
    app: Flask, paid_booking: Booking
) -> None:
    by_to = {m["To"]: m for m in messages(app)}
    assert set(by_to) == {paid_booking.mentee.email, paid_booking.coach.email}

    mentee_mail = by_to[paid_booking.mentee.email]
    assert mentee_mail["Subject"].startswith(f"Booked: {paid_booking.coach.name},")
    links = links_in(mentee_mail)
    assert f"http://127.0.0.1:5000/bookings/{paid_booking.id}" in links
    assert any("receipt" in url for url in links), links  # Stripe's receipt for the charge
    calendar = _ics(mentee_mail)
    assert calendar["METHOD"] == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == paid_booking.starts_at.astimezone(UTC)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(
        minutes=paid_booking.duration_minutes
    )
    assert str(event["ORGANIZER"]) == f"mailto:{paid_booking.coach.email}"
    assert str(event["URL"]) == f"http://127.0.0.1:5000/bookings/{paid_booking.id}"

    coach_mail = by_to[paid_booking.coach.email]
    assert coach_mail["Subject"].startswith(f"New booking: {paid_booking.mentee.name},")
    assert "$80.00" in text_of(coach_mail)  # the coach's share


def test_a_confirmation_refused_by_the_mail_server_is_sent_on_the_retry_as_first_written(
    app: Flask, paid_booking: Booking
) -> None:
    [first] = [m for m in messages(app) if m["To"] == paid_booking.mentee.email]
    folder = Path(app.config["MAIL_FILE_PATH"])
    shutil.rmtree(folder)
    folder.write_text("")  # the mail folder is a file now: every message is refused
    start = utcnow()
    [message_id] = outbox.queue_composed(
        paid_booking.id, {"booking.confirmed": paid_booking.mentee_id}
    )
    db.session.commit()  # written by its delivery, tried at once, refused
    db.session.expire_all()
    row = db.session.get(OutboxMessage, message_id)
    assert (row.status, row.attempts) == (PENDING, 1)
    assert "FileExistsError" in row.last_error
    written = (row.to_address, row.subject, row.text_body, row.html_body)
    assert written == (paid_booking.mentee.email, first["Subject"], text_of(first), html_of(first))

    # The mentee moves to another zone before the retry: the message goes as it was written.
    paid_booking.mentee.time_zone = "Asia/Tokyo"
    db.session.commit()
    folder.unlink()
    assert outbox.deliver_due(start + timedelta(seconds=61)) == 1
    retried = messages(app)[-1]
    assert (retried["To"], retried["Subject"], text_of(retried)) == written[:3]
    assert retried["Message-ID"] == f"<outbox-{message_id}@127.0.0.1>"
    assert _ics(retried)["METHOD"] == "REQUEST"


def test_a_confirmation_that_cannot_be_written_is_retried_and_kept_as_failed_like_a_refused_one(
    app: Flask, paid_booking: Booking
) -> None:
    before = len(messages(app))
    portal_url = app.config["PORTAL_URL"]
    app.config["PORTAL_URL"] = "http://[portal"  # a broken setting: no link can be written
    start = utcnow()
    [message_id] = outbox.queue_composed(
        paid_booking.id, {"booking.new_for_coach": paid_booking.coach_id}
    )
    db.session.commit()
    db.session.expire_all()
    row = db.session.get(OutboxMessage, message_id)
    assert (row.status, row.attempts, row.text_body, row.to_address) == (PENDING, 1, None, None)
    assert "Invalid IPv6 URL" in row.last_error

    app.config["PORTAL_URL"] = portal_url  # mended: the next try writes and sends it
    assert outbox.deliver_due(start + timedelta(seconds=61)) == 1
    [sent] = messages(app)[before:]
    assert (sent["To"], sent["Subject"]) == (
        paid_booking.coach.email,
        [m for m in messages(app) if m["To"] == paid_booking.coach.email][0]["Subject"],
    )
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message_id).status == SENT

    app.config.update(PORTAL_URL="http://[portal", OUTBOX_MAX_ATTEMPTS=2)
    [again_id] = outbox.queue_composed(
        paid_booking.id, {"booking.new_for_coach": paid_booking.coach_id}
    )
    db.session.commit()
    outbox.deliver_due(start + timedelta(days=1))
    db.session.expire_all()
    row = db.session.get(OutboxMessage, again_id)
    assert (row.status, row.attempts, row.text_body) == (FAILED, 2, None)
    assert len(messages(app)) == before + 1


def test_the_return_page_seen_twice_confirms_by_mail_once(
    app: Flask, mentee_client: FlaskClient, paid_booking: Booking
) -> None:
    mentee_client.get(f"/bookings/return?session_id={paid_booking.stripe_checkout_session_id}")
    assert len(messages(app)) == 2


def test_a_cancellation_tells_both_with_the_refund_and_cancels_the_invitation(
    app: Flask, mentee_client: FlaskClient, paid_booking: Booking
) -> None:
    before = len(messages(app))
    assert post_form(mentee_client, f"/bookings/{paid_booking.id}/cancel").status_code == 303
    new = messages(app)[before:]
    by_to = {m["To"]: m for m in new}
    assert set(by_to) == {paid_booking.mentee.email, paid_booking.coach.email}
    mentee_mail = by_to[paid_booking.mentee.email]
    assert mentee_mail["Subject"].startswith("Canceled: your session of")
    assert "You will be refunded $100.00" in text_of(mentee_mail)
    confirmed_uid = str(_ics(messages(app)[0]).walk("VEVENT")[0]["UID"])
    for message in new:
        calendar = _ics(message)
        assert calendar["METHOD"] == "CANCEL"
        [event] = calendar.walk("VEVENT")
        assert str(event["UID"]) == confirmed_uid  # the same event, so calendars drop it
        assert event["SEQUENCE"] == 1


def test_a_mentee_is_reminded_once_a_day_before_the_session(
    app: Flask, paid_booking: Booking
) -> None:
    before = len(messages(app))
    starts = paid_booking.starts_at
    assert notices.send_reminders(starts - timedelta(hours=25)) == 0
    assert notices.send_reminders(starts - timedelta(hours=23)) == 1
    db.session.commit()
    assert notices.send_reminders(starts - timedelta(hours=22)) == 0  # another run: no second
    db.session.commit()
    [reminder] = messages(app)[before:]
    assert reminder["To"] == paid_booking.mentee.email
    assert reminder["Subject"].startswith(f"Reminder: your session with {paid_booking.coach.name}")
    assert f"http://127.0.0.1:5000/bookings/{paid_booking.id}" in links_in(reminder)


def test_a_canceled_booking_gets_no_reminder(
    app: Flask, mentee_client: FlaskClient, paid_booking: Booking
) -> None:
    post_form(mentee_client, f"/bookings/{paid_booking.id}/cancel")
    assert notices.send_reminders(paid_booking.starts_at - timedelta(hours=1)) == 0


def test_a_mentee_who_switched_reminders_off_gets_none_but_still_hears_of_money(
    app: Flask, mentee_client: FlaskClient, paid_booking: Booking
) -> None:
    page = mentee_client.get("/account/profile").text
    assert "Email me reminders of my sessions" in page
    response = post_form(mentee_client, "/account/profile", name="Mentee A", submit="Save")
    assert response.status_code == 303  # the box left unticked: reminders off
    before = len(messages(app))
    assert notices.send_reminders(paid_booking.starts_at - timedelta(hours=1)) == 0
    db.session.commit()
    assert len(messages(app)) == before
    post_form(mentee_client, f"/bookings/{paid_booking.id}/cancel")
    assert [m["To"] for m in messages(app)[before:]].count(paid_booking.mentee.email) == 1


def test_cancelling_a_booking_paid_meanwhile_mails_the_cancellation_and_no_confirmation(
    app: Flask, mentee_client: FlaskClient, slot: AvailabilitySlot, stripe_fake: FakeStripe
) -> None:
    # The mentee cancels while the Checkout is being paid: asking Stripe to expire it finds it
    # paid, so the same request confirms the booking (owing its confirmation) and cancels it.
    assert book_slot(mentee_client, slot.id).status_code == 303
    booking = only_booking()
    stripe_fake.pay(booking.stripe_checkout_session_id)
    assert post_form(mentee_client, f"/bookings/{booking.id}/cancel").status_code == 303

    by_to = {m["To"]: m for m in messages(app)}
    assert len(messages(app)) == 2  # the cancellation, to each of the two, and nothing else
    assert set(by_to) == {booking.mentee.email, booking.coach.email}
    mentee_mail = by_to[booking.mentee.email]
    assert mentee_mail["Subject"].startswith("Canceled: your session of")
    assert "You will be refunded $100.00" in text_of(mentee_mail)
    assert {_ics(m)["METHOD"] for m in by_to.values()} == {"CANCEL"}
    db.session.expire_all()
    skipped = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.booking_id == booking.id)
    ).all()
    assert sorted((row.kind, row.status, row.text_body) for row in skipped) == [
        ("booking.confirmed", SKIPPED, None),
        ("booking.new_for_coach", SKIPPED, None),
    ]
    assert {row.last_error for row in skipped} == {
        f"Not sent: booking {booking.id} is canceled, no longer confirmed"
    }
    # The sweep leaves them be: a late retry cannot put the event back in calendars.
    assert outbox.deliver_due(utcnow() + timedelta(days=1)) == 0
    assert len(messages(app)) == 2
