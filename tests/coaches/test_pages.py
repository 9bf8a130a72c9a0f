"""The directory, coach pages, My sessions, My schedule and the coach's open times."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import AvailabilitySlot, Booking, Role, User
from tests.builders import make_connected_account, make_slot, make_user
from tests.coaches.conftest import post_form
from tests.conftest import csrf_token, login


def test_directory_lists_published_coaches_with_price_and_next_open_times(
    client: FlaskClient, bookable_coach: User, slot: AvailabilitySlot
) -> None:
    make_user(Role.COACH, name="Hidden Coach", is_published=False)
    yen = make_user(Role.COACH, name="Yen Coach", currency="JPY", session_price=5000)
    make_connected_account(yen)
    page = client.get("/").text
    assert "Grace Hopper" in page and "Compilers and careers" in page
    assert "$100.00" in page and "¥5,000" in page
    assert f"{slot.starts_at:%a %d %b %Y, %H:%M} UTC" in page
    assert "Hidden Coach" not in page
    assert yen.name in page


def test_coach_page_shows_bio_open_times_and_a_book_button_for_mentees(
    mentee_client: FlaskClient, bookable_coach: User, slot: AvailabilitySlot
) -> None:
    page = mentee_client.get(f"/coaches/{bookable_coach.id}").text
    assert "Thirty years of shipping software." in page
    assert f"/slots/{slot.id}/book" in page
    assert "Book and pay $100.00" in page


def test_a_coach_without_payments_set_up_says_so_and_offers_no_booking(
    mentee_client: FlaskClient, app: Flask
) -> None:
    coach = make_user(Role.COACH, name="New Coach")
    slot = make_slot(coach)
    page = mentee_client.get(f"/coaches/{coach.id}").text
    assert "has not finished setting up payments" in page
    assert f"/slots/{slot.id}/book" not in page


def test_my_sessions_lists_upcoming_and_past_with_payment_status_and_receipt(
    mentee_client: FlaskClient, paid_booking: Booking, mentee: User, bookable_coach: User
) -> None:
    past = Booking(
        coach_id=bookable_coach.id,
        mentee_id=mentee.id,
        starts_at=datetime.now(UTC) - timedelta(days=3),
        status="completed",
        payment_status="paid",
        price_amount=100,
        platform_fee_amount=20,
        coach_share=80,
    )
    db.session.add(past)
    db.session.commit()
    page = mentee_client.get("/my/sessions").text
    upcoming_part, past_part = page.split("<h2>Past</h2>")
    assert f"/bookings/{paid_booking.id}" in upcoming_part
    assert f"/bookings/{past.id}" in past_part
    assert "Paid" in upcoming_part and "Receipt" in upcoming_part
    receipt = mentee_client.get(f"/bookings/{paid_booking.id}").text
    assert paid_booking.stripe_payment_intent_id in receipt
    assert "https://pay.stripe.com/receipts/" in receipt


def test_failed_and_abandoned_attempts_are_shown_apart_and_never_in_the_coachs_schedule(
    app: Flask, mentee_client: FlaskClient, mentee: User, bookable_coach: User
) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=2)

    def attempt(hours: int, payment_status: str) -> Booking:
        booking = Booking(
            coach_id=bookable_coach.id,
            mentee_id=mentee.id,
            starts_at=tomorrow + timedelta(hours=hours),
            status="canceled",
            payment_status=payment_status,
            price_amount=100,
            platform_fee_amount=20,
            coach_share=80,
        )
        db.session.add(booking)
        return booking

    declined, abandoned = attempt(1, "failed"), attempt(2, "canceled")
    refunded = attempt(3, "refunded")  # paid, then canceled: a session, not an attempt
    db.session.commit()
    page = mentee_client.get("/my/sessions").text
    sessions, not_completed = page.split("<h2>Not completed</h2>")
    for booking in (declined, abandoned):
        assert f"/bookings/{booking.id}" in not_completed
        assert f"/bookings/{booking.id}" not in sessions
    assert f"/bookings/{refunded.id}" in sessions.split("<h2>Past</h2>")[0]
    assert "Nothing was charged" in not_completed
    coach = app.test_client()
    login(coach, bookable_coach)
    schedule = coach.get("/coach/schedule").text
    assert f"/bookings/{refunded.id}" in schedule
    assert f"/bookings/{declined.id}" not in schedule
    assert f"/bookings/{abandoned.id}" not in schedule
    assert schedule.count(mentee.name) == 1  # the refunded session's row only


def test_a_coach_sees_only_their_own_schedule(
    app: Flask, paid_booking: Booking, bookable_coach: User
) -> None:
    own = app.test_client()
    login(own, bookable_coach)
    assert f"/bookings/{paid_booking.id}" in own.get("/coach/schedule").text
    other = app.test_client()
    login(other, make_user(Role.COACH, password="correct horse battery"))
    assert f"/bookings/{paid_booking.id}" not in other.get("/coach/schedule").text
    assert other.get(f"/bookings/{paid_booking.id}").status_code == 404


def test_a_coach_adds_and_removes_open_times_inline(app: Flask, bookable_coach: User) -> None:
    client = app.test_client()
    login(client, bookable_coach)
    starts = (datetime.now(UTC) + timedelta(days=5)).replace(minute=0, second=0, microsecond=0)
    headers = {"HX-Request": "true", "X-CSRFToken": csrf_token(client)}
    response = client.post(
        "/coach/slots",
        headers=headers,
        data={"starts_at": starts.strftime("%Y-%m-%dT%H:%M"), "duration_minutes": "45"},
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    [slot] = db.session.scalars(db.select(AvailabilitySlot)).all()
    assert (slot.starts_at, slot.duration_minutes) == (starts, 45)
    again = client.post(
        "/coach/slots",
        headers=headers,
        data={"starts_at": starts.strftime("%Y-%m-%dT%H:%M"), "duration_minutes": "45"},
    )
    assert again.status_code == 400 and "You already offer that time." in again.text
    past = client.post(
        "/coach/slots",
        headers=headers,
        data={"starts_at": "2001-01-01T10:00", "duration_minutes": "45"},
    )
    assert past.status_code == 400 and "That time has passed" in past.text
    removed = client.post(f"/coach/slots/{slot.id}/delete", headers=headers)
    assert removed.status_code == 200
    assert db.session.query(AvailabilitySlot).count() == 0


def test_a_booked_open_time_cannot_be_removed(
    app: Flask, paid_booking: Booking, bookable_coach: User
) -> None:
    client = app.test_client()
    login(client, bookable_coach)
    response = post_form(client, f"/coach/slots/{paid_booking.slot_id}/delete")
    assert response.status_code == 303
    assert "That time is booked" in client.get("/coach/profile").text
    assert db.session.get(AvailabilitySlot, paid_booking.slot_id) is not None


def test_a_coach_cannot_remove_another_coachs_open_time(app: Flask, slot: AvailabilitySlot) -> None:
    client = app.test_client()
    login(client, make_user(Role.COACH, password="correct horse battery"))
    post_form(client, f"/coach/slots/{slot.id}/delete")
    assert db.session.get(AvailabilitySlot, slot.id) is not None


def test_a_coachs_open_times_come_twenty_to_a_page_with_bookings_marked(
    app: Flask, paid_booking: Booking, bookable_coach: User
) -> None:
    for hours in range(24, 48):  # 24 open times before the booked one (48 hours from now)
        make_slot(bookable_coach, hours_from_now=hours)
    client = app.test_client()
    login(client, bookable_coach)

    first = client.get("/coach/profile").text
    assert first.count("(60 min)") == 20 and "Booked" not in first
    later = re.search(r'<a rel="next" href="([^"]+)">Later times</a>', first)
    assert later
    second = client.get(later.group(1).replace("&amp;", "&")).text
    assert second.count("(60 min)") == 5 and second.count("Booked") == 1
    assert f"/coach/slots/{paid_booking.slot_id}/delete" not in second  # booked: no Remove
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert client.get("/coach/profile?after=garbage").status_code == 400


def test_htmx_swaps_a_4xx_answer_so_every_form_shows_its_errors(client: FlaskClient) -> None:
    page = client.get("/").text
    config = json.loads(
        html.unescape(re.search(r'name="htmx-config" content=\'([^\']+)\'', page)[1])
    )
    rules = config["responseHandling"]
    first_for_400 = next(rule for rule in rules if re.fullmatch(rule["code"], "400"))
    assert first_for_400["swap"] is True
    first_for_500 = next(rule for rule in rules if re.fullmatch(rule["code"], "500"))
    assert first_for_500["swap"] is False


def test_an_open_time_in_the_past_is_refused_beside_its_field(
    app: Flask, bookable_coach: User
) -> None:
    client = app.test_client()
    login(client, bookable_coach)
    headers = {"HX-Request": "true", "X-CSRFToken": csrf_token(client)}
    past = client.post(
        "/coach/slots",
        headers=headers,
        data={"starts_at": "2001-01-01T10:00", "duration_minutes": "45"},
    )
    assert past.status_code == 400
    starts_field = past.text.split('for="starts_at"')[0].rsplit('<div class="field', 1)[1]
    assert starts_field.startswith(" field-error")
    assert past.text.count("That time has passed. Offer a time in the future.") == 1
    assert db.session.query(AvailabilitySlot).count() == 0


def test_a_new_coach_is_steered_to_payouts_and_not_listed_until_they_can_take_bookings(
    app: Flask, client: FlaskClient
) -> None:
    coach = make_user(Role.COACH, name="New Coach", password="correct horse battery")
    make_slot(coach, hours_from_now=48)
    assert "New Coach" not in client.get("/").text  # published, with times, but no payouts
    own = app.test_client()
    login(own, coach, "correct horse battery")
    page = own.get("/coach/profile").text
    checklist = page.split('id="setup-checklist"')[1].split("</section>")[0]
    assert "Mentees cannot book you until payouts are set up" in checklist
    assert '<span class="badge badge-ok">Done</span> Offer open times' in checklist
    assert (
        '<span class="badge badge-warn">To do</span> <a href="/coach/earnings/get-paid">'
        "Set up payouts with Stripe</a>"
    ) in checklist

    make_connected_account(coach)
    assert "New Coach" in client.get("/").text
    page = own.get("/coach/profile").text
    assert '<span class="badge badge-ok">Done</span> Set up payouts with Stripe' in page
    assert "Mentees cannot book you" not in page


def test_htmx_settles_no_style_attribute_which_the_content_policy_refuses(
    client: FlaskClient,
) -> None:
    answer = client.get("/")
    config = json.loads(
        html.unescape(re.search(r'name="htmx-config" content=\'([^\']+)\'', answer.text)[1])
    )
    assert "unsafe-inline" not in answer.headers["Content-Security-Policy"]
    assert "style" not in config["attributesToSettle"]
