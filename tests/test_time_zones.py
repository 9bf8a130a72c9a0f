"""Each person's clock: how a UTC moment is written for them, and how a time they typed is read
(the daylight-saving change days of Berlin and New York, their gap and their overlap)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask, render_template_string
from flask_login import login_user
from jinja2 import ChoiceLoader, DictLoader

from portal.extensions import db
from portal.models import Role, User
from portal.outbox import queue_mail
from portal.time_zones import NonexistentTime, is_time_zone, show_time, wall_time_to_utc
from tests.builders import make_user

NINE_UTC = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("UTC", "Mon 30 Nov 2026, 09:00 UTC"),
        ("Europe/Berlin", "Mon 30 Nov 2026, 10:00 CET"),
        ("America/New_York", "Mon 30 Nov 2026, 04:00 EST"),
        ("Asia/Tokyo", "Mon 30 Nov 2026, 18:00 JST"),
        ("Pacific/Auckland", "Mon 30 Nov 2026, 22:00 NZDT"),
        ("Pacific/Kiritimati", "Mon 30 Nov 2026, 23:00 +14"),
    ],
)
def test_a_moment_is_shown_on_the_readers_clock_with_the_zones_abbreviation(
    zone: str, shown: str
) -> None:
    assert show_time(NINE_UTC, zone) == shown


def test_summer_time_shows_its_own_abbreviation() -> None:
    july = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert show_time(july, "Europe/Berlin") == "Wed 01 Jul 2026, 11:00 CEST"
    assert show_time(july, "America/New_York") == "Wed 01 Jul 2026, 05:00 EDT"


def test_a_naive_moment_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="Naive"):
        show_time(datetime(2026, 11, 30, 9, 0), "UTC")  # noqa: DTZ001


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "", "europe/berlin", "localtime", "Factory", "../etc/passwd", "\x00"]
)
def test_only_iana_zone_names_of_places_are_time_zones(name: str) -> None:
    assert not is_time_zone(name)


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
def test_iana_zone_names_are_time_zones(name: str) -> None:
    assert is_time_zone(name)


# The last Sunday of March 2027 in Berlin: at 02:00 the clocks go forward to 03:00.
# The first Sunday of November 2027 in New York: at 02:00 the clocks go back to 01:00.


@pytest.mark.parametrize(
    ("wall", "utc"),
    [
        (datetime(2027, 3, 27, 9, 0), datetime(2027, 3, 27, 8, 0, tzinfo=UTC)),  # CET, +1
        (datetime(2027, 3, 28, 1, 59), datetime(2027, 3, 28, 0, 59, tzinfo=UTC)),
        (datetime(2027, 3, 28, 3, 0), datetime(2027, 3, 28, 1, 0, tzinfo=UTC)),  # CEST, +2
        (datetime(2027, 3, 28, 9, 0), datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),
        (datetime(2027, 3, 29, 9, 0), datetime(2027, 3, 29, 7, 0, tzinfo=UTC)),
    ],
)
def test_berlin_nine_oclock_lands_at_the_hour_chosen_on_both_sides_of_spring_forward(
    wall: datetime, utc: datetime
) -> None:
    assert wall_time_to_utc(wall, "Europe/Berlin") == utc


@pytest.mark.parametrize("minute", [0, 30, 59])
def test_a_time_in_berlins_spring_forward_gap_does_not_exist(minute: int) -> None:
    with pytest.raises(NonexistentTime, match="does not exist in Europe/Berlin"):
        wall_time_to_utc(datetime(2027, 3, 28, 2, minute), "Europe/Berlin")


@pytest.mark.parametrize(
    ("wall", "utc"),
    [
        (datetime(2027, 11, 6, 9, 0), datetime(2027, 11, 6, 13, 0, tzinfo=UTC)),  # EDT, -4
        (datetime(2027, 11, 7, 0, 30), datetime(2027, 11, 7, 4, 30, tzinfo=UTC)),
        (datetime(2027, 11, 7, 9, 0), datetime(2027, 11, 7, 14, 0, tzinfo=UTC)),  # EST, -5
        (datetime(2027, 11, 8, 9, 0), datetime(2027, 11, 8, 14, 0, tzinfo=UTC)),
    ],
)
def test_new_york_nine_oclock_lands_at_the_hour_chosen_on_both_sides_of_fall_back(
    wall: datetime, utc: datetime
) -> None:
    assert wall_time_to_utc(wall, "America/New_York") == utc


def test_a_time_new_york_shows_twice_is_the_first_of_the_two() -> None:
    # 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST): the first is taken.
    moment = wall_time_to_utc(datetime(2027, 11, 7, 1, 30), "America/New_York")
    assert moment == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)
    assert show_time(moment, "America/New_York") == "Sun 07 Nov 2027, 01:30 EDT"


# --- the template filter --------------------------------------------------------------------


def _render_as(app: Flask, user: User | None, source: str, **context: object) -> str:
    with app.test_request_context("/"):
        if user is not None:
            login_user(db.session.get(User, user.id))
        return render_template_string(source, **context)


def test_the_filter_shows_the_signed_in_persons_zone(app: Flask) -> None:
    tokyo = make_user(Role.MENTEE)
    tokyo.time_zone = "Asia/Tokyo"
    db.session.commit()
    assert _render_as(app, tokyo, "{{ t|datetime }}", t=NINE_UTC) == "Mon 30 Nov 2026, 18:00 JST"
    assert _render_as(app, tokyo, "{{ t|datetime('%d %b %Y') }}", t=NINE_UTC) == "30 Nov 2026"


def test_the_filter_shows_another_persons_zone_when_named(app: Flask) -> None:
    shown = _render_as(app, None, "{{ t|datetime('%H:%M %Z', zone='Europe/Berlin') }}", t=NINE_UTC)
    assert shown == "10:00 CET"


def test_the_filter_shows_utc_to_a_visitor_and_nothing_for_no_moment(app: Flask) -> None:
    assert _render_as(app, None, "{{ t|datetime }}", t=NINE_UTC) == "Mon 30 Nov 2026, 09:00 UTC"
    assert _render_as(app, None, "[{{ t|datetime }}]", t=None) == "[]"


def test_a_mail_shows_times_on_its_recipients_clock_whoever_is_signed_in(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    berlin, tokyo = make_user(Role.COACH), make_user(Role.MENTEE)
    berlin.time_zone, tokyo.time_zone = "Europe/Berlin", "Asia/Tokyo"
    db.session.commit()
    templates = {"mail/when.txt": "{{ t|datetime }}", "mail/when.html": "<p>{{ t|datetime }}</p>"}
    loader = ChoiceLoader([DictLoader(templates), app.jinja_env.loader])
    monkeypatch.setattr(app.jinja_env, "loader", loader)
    with app.test_request_context("/"):
        login_user(db.session.get(User, tokyo.id))  # the mentee's request tells the coach
        message = queue_mail("test.when", berlin, "When", "when", t=NINE_UTC)
    assert message.text_body == "Mon 30 Nov 2026, 10:00 CET"
    assert message.html_body == "<p>Mon 30 Nov 2026, 10:00 CET</p>"
