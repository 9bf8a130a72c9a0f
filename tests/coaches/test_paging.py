"""Long lists come a page at a time: the directory, a coach's open times, each person's sessions.

Pages are found by keyset cursors carried in `rel="next"`/`rel="prev"` links; a cursor that does
not parse is refused with 400 and a message, never a server error.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from portal.bookings import hold
from portal.coaches import services
from portal.extensions import db
from portal.models import (
    AvailabilitySlot,
    Booking,
    PaymentStatus,
    Role,
    SessionStatus,
    User,
)
from tests.builders import make_connected_account, make_user
from tests.conftest import PASSWORD, login


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def _booking_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/bookings/(\d+)"', page)]


def _sessions(mentee: User, coach: User, hours: list[int]) -> list[Booking]:
    now = datetime.now(UTC).replace(microsecond=0)
    made = [
        Booking(
            coach_id=coach.id,
            mentee_id=mentee.id,
            starts_at=now + timedelta(hours=h),
            status=SessionStatus.CONFIRMED,
            payment_status=PaymentStatus.PAID,
            price_amount=100,
            platform_fee_amount=20,
            coach_share=80,
        )
        for h in hours
    ]
    db.session.add_all(made)
    db.session.commit()
    return made


def test_directory_shows_24_coaches_a_page_newest_first_with_links_both_ways(
    client: FlaskClient, app: Flask
) -> None:
    coaches = [make_user(Role.COACH, name=f"Paged Coach {n:02d}") for n in range(30)]
    for coach in coaches:
        make_connected_account(coach)
    first = client.get("/").text
    assert first.count('class="card coach-card"') == services.DIRECTORY_PAGE_SIZE
    assert "Paged Coach 29" in first and "Paged Coach 05" not in first
    assert _link(first, "prev") is None
    second_url = _link(first, "next")
    assert second_url is not None and "after=" in second_url

    second = client.get(second_url).text
    assert [f"Paged Coach {n:02d}" in second for n in range(6)] == [True] * 6
    assert "Paged Coach 06" not in second and _link(second, "next") is None
    back = client.get(_link(second, "prev") or "").text
    assert back.count('class="card coach-card"') == 24 and "Paged Coach 29" in back
    assert len(coaches) == 30


def test_directory_next_open_times_are_each_coachs_soonest_three_from_one_query(
    app: Flask,
) -> None:
    ada, bob = make_user(Role.COACH), make_user(Role.COACH)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for coach, hours in ((ada, [50, 10, 30, 20, 40]), (bob, [5])):
        for h in hours:
            db.session.add(AvailabilitySlot(coach_id=coach.id, starts_at=now + timedelta(hours=h)))
    db.session.commit()
    slots = hold.open_slots_by_coach([ada.id, bob.id])
    assert [s.starts_at for s in slots[ada.id]] == [now + timedelta(hours=h) for h in (10, 20, 30)]
    assert [s.starts_at for s in slots[bob.id]] == [now + timedelta(hours=5)]


def test_a_coachs_open_times_come_twenty_at_a_time_soonest_first(
    mentee_client: FlaskClient, bookable_coach: User
) -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    slots = [
        AvailabilitySlot(coach_id=bookable_coach.id, starts_at=now + timedelta(hours=h + 2))
        for h in range(25)
    ]
    db.session.add_all(slots)
    db.session.commit()
    first = mentee_client.get(f"/coaches/{bookable_coach.id}").text
    shown = [int(i) for i in re.findall(r"/slots/(\d+)/book", first)]
    assert shown == [s.id for s in slots[:20]]
    later = mentee_client.get(_link(first, "next") or "").text
    assert [int(i) for i in re.findall(r"/slots/(\d+)/book", later)] == [s.id for s in slots[20:]]
    assert "Earlier times" in later


def test_my_sessions_shows_the_next_ten_upcoming_and_pages_the_past(
    mentee_client: FlaskClient, mentee: User, bookable_coach: User
) -> None:
    upcoming = _sessions(mentee, bookable_coach, list(range(1, 13)))  # soonest first
    past = _sessions(mentee, bookable_coach, [-h for h in range(1, 26)])  # most recent first
    page = mentee_client.get("/my/sessions").text
    upcoming_part, past_part = page.split("<h2>Past</h2>")
    assert _booking_ids(upcoming_part) == [b.id for b in upcoming[:10]]
    assert _booking_ids(past_part) == [b.id for b in past[:20]]

    later = mentee_client.get(_link(upcoming_part, "next") or "").text
    assert _booking_ids(later.split("<h2>Past</h2>")[0]) == [b.id for b in upcoming[10:]]

    older = mentee_client.get(_link(past_part, "next") or "").text
    older_upcoming, older_past = older.split("<h2>Past</h2>")
    assert _booking_ids(older_past) == [b.id for b in past[20:]]
    assert _booking_ids(older_upcoming) == [b.id for b in upcoming[:10]]  # kept as it was


def test_the_schedule_pages_past_sessions_for_the_coach(
    app: Flask, mentee: User, bookable_coach: User
) -> None:
    past = _sessions(mentee, bookable_coach, [-h for h in range(1, 23)])
    client = app.test_client()
    login(client, bookable_coach, PASSWORD)
    page = client.get("/coach/schedule").text
    assert _booking_ids(page.split("<h2>Past</h2>")[1]) == [b.id for b in past[:20]]
    older = client.get(_link(page.split("<h2>Past</h2>")[1], "next") or "").text
    assert _booking_ids(older.split("<h2>Past</h2>")[1]) == [b.id for b in past[20:]]


def test_a_page_link_that_does_not_parse_is_a_400_with_a_message(
    mentee_client: FlaskClient, bookable_coach: User
) -> None:
    for url in (
        "/my/sessions?after=garbage",
        "/my/sessions?upcoming_after=12_x",
        f"/coaches/{bookable_coach.id}?before=-99999999999999999999999_1",
        "/billing/invoices?after=1_99999999999",
        "/billing/cards?before=abc",
        "/?after=1.5_1",
    ):
        response = mentee_client.get(url)
        assert response.status_code == 400, url
        assert "page link is not valid" in response.text, url
