"""Times across zones: a coach offers open times on their own clock (daylight-saving change
days, the gap and the overlap), each person reads every time on theirs (pages, mail, Checkout),
the coach's page also gives the coach's time, and a booking downloads as a calendar file for
its two people only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar

from portal.extensions import db
from portal.models import AvailabilitySlot, Booking, Role, User
from tests.builders import make_connected_account, make_user
from tests.coaches.conftest import book_slot, only_booking, post_form
from tests.conftest import PASSWORD, csrf_token, login
from tests.mailbox import messages, text_of
from tests.stripe_fake import FakeStripe

# 14:00 UTC on a winter Friday: 09:00 in New York (EST), 23:00 the same day in Tokyo (JST).
NEW_YORK_NINE = datetime(2027, 1, 15, 14, 0, tzinfo=UTC)


def _in_zone(user: User, zone: str) -> User:
    user.time_zone = zone
    db.session.commit()
    return user


def _add_slot(client: FlaskClient, wall: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/coach/slots",
        headers={"HX-Request": "true", "X-CSRFToken": csrf_token(client)},
        data={"starts_at": wall, "duration_minutes": "60"},
    )


def _slot_starts() -> list[datetime]:
    db.session.expire_all()
    return [s.starts_at for s in db.session.scalars(db.select(AvailabilitySlot))]


@pytest.fixture
def coach_client(app: Flask, bookable_coach: User) -> FlaskClient:
    client = app.test_client()
    login(client, bookable_coach)
    return client


# --- open times on the coach's clock --------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "utc"),
    [
        ("2027-03-27T09:00", datetime(2027, 3, 27, 8, 0, tzinfo=UTC)),  # the day before: CET
        ("2027-03-28T09:00", datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),  # the change day: CEST
        ("2027-03-29T09:00", datetime(2027, 3, 29, 7, 0, tzinfo=UTC)),
    ],
)
def test_a_berlin_coachs_nine_oclock_is_nine_in_berlin_around_spring_forward(
    coach_client: FlaskClient, bookable_coach: User, wall: str, utc: datetime
) -> None:
    _in_zone(bookable_coach, "Europe/Berlin")
    response = _add_slot(coach_client, wall)
    assert response.status_code == 200
    assert _slot_starts() == [utc]
    assert f"{wall[8:10]} Mar 2027, 09:00 CE" in response.text  # shown back on the coach's clock


@pytest.mark.parametrize(
    ("wall", "utc"),
    [
        ("2027-11-06T09:00", datetime(2027, 11, 6, 13, 0, tzinfo=UTC)),  # the day before: EDT
        ("2027-11-07T09:00", datetime(2027, 11, 7, 14, 0, tzinfo=UTC)),  # the change day: EST
        ("2027-11-08T09:00", datetime(2027, 11, 8, 14, 0, tzinfo=UTC)),
    ],
)
def test_a_new_york_coachs_nine_oclock_is_nine_in_new_york_around_fall_back(
    coach_client: FlaskClient, bookable_coach: User, wall: str, utc: datetime
) -> None:
    _in_zone(bookable_coach, "America/New_York")
    assert _add_slot(coach_client, wall).status_code == 200
    assert _slot_starts() == [utc]


def test_a_time_in_the_spring_forward_gap_is_refused_beside_the_field_and_adds_nothing(
    coach_client: FlaskClient, bookable_coach: User
) -> None:
    _in_zone(bookable_coach, "Europe/Berlin")
    response = _add_slot(coach_client, "2027-03-28T02:30")
    assert response.status_code == 400
    error = response.text.split('id="starts_at-error">')[1].split("</p>")[0]
    assert "28 Mar 2027, 02:30 does not exist in Europe/Berlin" in error
    assert _slot_starts() == []


def test_a_gap_time_sent_without_htmx_comes_back_as_the_same_message(
    coach_client: FlaskClient, bookable_coach: User
) -> None:
    _in_zone(bookable_coach, "Europe/Berlin")
    response = post_form(
        coach_client, "/coach/slots", starts_at="2027-03-28T02:30", duration_minutes="60"
    )
    assert response.status_code == 303
    page = coach_client.get(response.location).text
    assert "does not exist in Europe/Berlin" in page
    assert _slot_starts() == []


def test_a_time_the_clocks_show_twice_is_the_first_and_the_form_says_so(
    coach_client: FlaskClient, bookable_coach: User
) -> None:
    _in_zone(bookable_coach, "America/New_York")
    page = coach_client.get("/coach/profile").text
    assert "Start (your time, America/New_York)" in page
    assert "a time that happens twice is the first of the two" in page
    assert _add_slot(coach_client, "2027-11-07T01:30").status_code == 200
    assert _slot_starts() == [datetime(2027, 11, 7, 5, 30, tzinfo=UTC)]  # 01:30 EDT, not EST


# --- each reader's clock ------------------------------------------------------------------


@pytest.fixture
def new_york_slot(bookable_coach: User) -> AvailabilitySlot:
    _in_zone(bookable_coach, "America/New_York")
    slot = AvailabilitySlot(coach=bookable_coach, starts_at=NEW_YORK_NINE)
    db.session.add(slot)
    db.session.commit()
    return slot


def test_a_tokyo_mentee_sees_a_new_york_coachs_nine_as_eleven_at_night_the_same_day(
    mentee_client: FlaskClient, mentee: User, bookable_coach: User, new_york_slot: AvailabilitySlot
) -> None:
    _in_zone(mentee, "Asia/Tokyo")
    page = mentee_client.get(f"/coaches/{bookable_coach.id}").text
    assert "Fri 15 Jan 2027, 23:00 JST" in page
    assert "Fri 09:00 EST for Grace Hopper" in page  # the coach's own time, as it differs
    assert "14:00 UTC" not in page
    assert "Fri 15 Jan 2027, 23:00 JST" in mentee_client.get("/").text  # the directory too


def test_the_coachs_time_is_not_repeated_to_a_reader_on_the_same_clock(
    mentee_client: FlaskClient, mentee: User, bookable_coach: User, new_york_slot: AvailabilitySlot
) -> None:
    _in_zone(mentee, "America/Toronto")  # another name for the same clock
    page = mentee_client.get(f"/coaches/{bookable_coach.id}").text
    assert "Fri 15 Jan 2027, 09:00 EST" in page
    assert "for Grace Hopper" not in page


@pytest.mark.parametrize(
    ("cookie", "shown"),
    [
        ("Europe/Berlin", "Fri 15 Jan 2027, 15:00 CET"),
        ("Mars/Olympus", "Fri 15 Jan 2027, 14:00 UTC"),
        (None, "Fri 15 Jan 2027, 14:00 UTC"),
    ],
)
def test_a_visitor_sees_times_in_the_zone_their_browser_reported(
    app: Flask,
    bookable_coach: User,
    new_york_slot: AvailabilitySlot,
    cookie: str | None,
    shown: str,
) -> None:
    client = app.test_client()
    if cookie is not None:
        client.set_cookie("tz", cookie)
    assert shown in client.get(f"/coaches/{bookable_coach.id}").text


def test_a_signed_in_persons_own_zone_wins_over_the_browsers_cookie(
    mentee_client: FlaskClient, mentee: User, bookable_coach: User, new_york_slot: AvailabilitySlot
) -> None:
    _in_zone(mentee, "Asia/Tokyo")
    mentee_client.set_cookie("tz", "Europe/Berlin")
    assert "23:00 JST" in mentee_client.get(f"/coaches/{bookable_coach.id}").text


@pytest.fixture
def tokyo_booking(
    mentee_client: FlaskClient,
    mentee: User,
    new_york_slot: AvailabilitySlot,
    stripe_fake: FakeStripe,
) -> Booking:
    """A New York coach's 09:00, booked and paid by a mentee in Tokyo."""
    _in_zone(mentee, "Asia/Tokyo")
    assert book_slot(mentee_client, new_york_slot.id).status_code == 303
    booking = only_booking()
    stripe_fake.pay(booking.stripe_checkout_session_id)
    mentee_client.get(f"/bookings/return?session_id={booking.stripe_checkout_session_id}")
    db.session.expire_all()
    return db.session.get(Booking, booking.id)


def test_each_person_reads_the_booking_on_their_own_clock_in_mail_and_at_checkout(
    app: Flask, mentee_client: FlaskClient, tokyo_booking: Booking, stripe_fake: FakeStripe
) -> None:
    by_to = {m["To"]: m for m in messages(app)}
    mentee_mail = by_to[tokyo_booking.mentee.email]
    assert mentee_mail["Subject"] == "Booked: Grace Hopper, Fri 15 Jan 2027, 23:00 JST"
    assert "When: Fri 15 Jan 2027, 23:00 JST" in text_of(mentee_mail)
    coach_mail = by_to[tokyo_booking.coach.email]
    assert coach_mail["Subject"].endswith("Fri 15 Jan 2027, 09:00 EST")
    assert "When: Fri 15 Jan 2027, 09:00 EST" in text_of(coach_mail)
    [params] = stripe_fake.params_of("checkout.sessions.create")
    [item] = params["line_items"]
    name = item["price_data"]["product_data"]["name"]
    assert name == "Session with Grace Hopper on Fri 15 Jan 2027, 23:00 JST"
    page = mentee_client.get(f"/bookings/{tokyo_booking.id}").text
    assert "Fri 15 Jan 2027, 23:00 JST (60 minutes)" in page


def test_a_reminder_and_a_cancellation_are_on_the_readers_clock(
    app: Flask, mentee_client: FlaskClient, tokyo_booking: Booking
) -> None:
    from portal.bookings import notices

    before = len(messages(app))
    notices.send_reminders(NEW_YORK_NINE - timedelta(hours=2))
    db.session.commit()
    assert post_form(mentee_client, f"/bookings/{tokyo_booking.id}/cancel").status_code == 303
    new = messages(app)[before:]
    subjects = sorted(m["Subject"] for m in new)
    assert subjects == [
        "Canceled: session of Fri 15 Jan 2027, 09:00 EST",
        "Canceled: your session of Fri 15 Jan 2027, 23:00 JST",
        "Reminder: your session with Grace Hopper, Fri 15 Jan 2027, 23:00 JST",
    ]


# --- the booking's calendar file ------------------------------------------------------------


def _calendar(client: FlaskClient, booking: Booking):  # type: ignore[no-untyped-def]
    return client.get(f"/bookings/{booking.id}/calendar.ics")


def test_the_mentee_and_the_coach_download_the_booking_as_a_calendar_file(
    app: Flask, mentee_client: FlaskClient, tokyo_booking: Booking, bookable_coach: User
) -> None:
    page = mentee_client.get(f"/bookings/{tokyo_booking.id}").text
    assert f'href="/bookings/{tokyo_booking.id}/calendar.ics"' in page
    coach_client = app.test_client()
    login(coach_client, bookable_coach)
    for client in (mentee_client, coach_client):
        response = _calendar(client, tokyo_booking)
        assert response.status_code == 200
        assert response.mimetype == "text/calendar"
        assert "attachment" in response.headers["Content-Disposition"]
        assert (
            f'filename="booking-{tokyo_booking.id}.ics"' in response.headers["Content-Disposition"]
        )
        calendar = Calendar.from_ical(response.data)
        assert calendar["METHOD"] == "PUBLISH"
        [event] = calendar.walk("VEVENT")
        assert "DTSTART:20270115T140000Z" in response.text  # written in UTC
        assert event.decoded("DTSTART") == NEW_YORK_NINE
        assert event.decoded("DTEND") == NEW_YORK_NINE + timedelta(minutes=60)
        assert str(event["STATUS"]) == "CONFIRMED"
        assert str(event["SUMMARY"]) == "Coaching session with Grace Hopper"
        assert str(event["ORGANIZER"]) == f"mailto:{bookable_coach.email}"
        assert event["ORGANIZER"].params["CN"] == "Grace Hopper"
        url = f"http://127.0.0.1:5000/bookings/{tokyo_booking.id}"
        assert str(event["URL"]) == url and url in str(event["DESCRIPTION"])
        # The same event as the mailed invitation, so a calendar keeps one copy of it.
        [mailed] = [
            p
            for p in messages(app)[0].iter_attachments()
            if p.get_content_type() == "text/calendar"
        ]
        invite = Calendar.from_ical(mailed.get_payload(decode=True))
        assert str(event["UID"]) == str(invite.walk("VEVENT")[0]["UID"])


def test_nobody_else_can_download_a_bookings_calendar_file(
    app: Flask, tokyo_booking: Booking
) -> None:
    anonymous = app.test_client()
    response = _calendar(anonymous, tokyo_booking)
    assert response.status_code == 302 and "/account/login" in response.location
    for role in (Role.MENTEE, Role.COACH, Role.ADMIN):
        stranger = app.test_client()
        other = make_user(role, password=PASSWORD)
        if role is Role.COACH:
            make_connected_account(other)
        login(stranger, other)
        assert _calendar(stranger, tokyo_booking).status_code in (403, 404)
    missing = app.test_client()
    login(missing, tokyo_booking.mentee)
    assert missing.get("/bookings/999999/calendar.ics").status_code == 404


def test_a_canceled_bookings_calendar_file_cancels_the_event(
    mentee_client: FlaskClient, tokyo_booking: Booking
) -> None:
    assert post_form(mentee_client, f"/bookings/{tokyo_booking.id}/cancel").status_code == 303
    response = _calendar(mentee_client, tokyo_booking)
    assert response.status_code == 200
    calendar = Calendar.from_ical(response.data)
    assert calendar["METHOD"] == "CANCEL"
    [event] = calendar.walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED" and event["SEQUENCE"] == 1
