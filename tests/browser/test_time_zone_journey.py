"""A mentee in Tokyo and a coach in New York, in a real browser whose clock is in Tokyo: the
browser proposes its zone at sign-up, and every time is then read on the mentee's clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from icalendar import Calendar
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import AvailabilitySlot, Booking, Role, User
from portal.time_zones import wall_time_to_utc
from tests.browser.helpers import pay_on_checkout, sign_up
from tests.builders import make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox, onboard_coach


@pytest.fixture
def context_options() -> dict[str, object]:
    return {"timezone_id": "Asia/Tokyo"}


def test_a_tokyo_mentee_sees_a_new_york_coachs_nine_as_eleven_at_night_the_same_day(
    live_sandbox: LiveSandbox, live_portal: LivePortal, page: Page, audit
) -> None:
    coach = make_user(Role.COACH, password=PASSWORD, name="Grace Hopper")
    coach.time_zone = "America/New_York"
    # 15 January next year: winter in New York (EST, UTC-5), so 09:00 there is 14:00 UTC.
    day = date(datetime.now(UTC).year + 1, 1, 15)
    starts_at = wall_time_to_utc(datetime.combine(day, time(9)), "America/New_York")
    db.session.add(AvailabilitySlot(coach=coach, starts_at=starts_at))
    db.session.commit()
    onboard_coach(live_sandbox, coach)

    sign_up(page, live_portal, "Kaito Mentee", "kaito@example.com", audit=audit)
    mentee = db.session.scalar(select(User).where(User.email == "kaito@example.com"))
    assert mentee.time_zone == "Asia/Tokyo"  # proposed by the browser, not typed

    page.goto(f"{live_portal.url}/coaches/{coach.id}")
    tokyo_time = f"{day:%a %d %b %Y}, 23:00 JST"
    expect(page.get_by_text(tokyo_time)).to_be_visible()
    expect(page.get_by_text(f"{day:%a} 09:00 EST for Grace Hopper")).to_be_visible()
    audit(page)

    page.get_by_role("button", name="Book and pay").first.click()
    pay_on_checkout(page, "4242 4242 4242 4242")
    expect(page.get_by_text("Your session is booked and paid.")).to_be_visible(timeout=20_000)
    expect(page.get_by_text(f"{tokyo_time} (60 minutes)")).to_be_visible()
    audit(page)

    with page.expect_download() as download:
        page.get_by_role("link", name="Add to my calendar (.ics)").click()
    calendar = Calendar.from_ical(Path(download.value.path()).read_bytes())
    [event] = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == starts_at
    booking = db.session.scalar(select(Booking))
    assert str(event["URL"]).endswith(f"/bookings/{booking.id}")
