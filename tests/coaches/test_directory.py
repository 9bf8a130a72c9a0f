"""The directory as people use it (search by name, a price range, pages that keep both) and the
anonymous directory and coach pages kept rendered and cached by browsers and CDNs, yet showing
every change at once."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

import pytest
import sqlalchemy as sa
from flask import Flask, template_rendered
from flask.testing import FlaskClient

from portal import caching
from portal.bookings import hold
from portal.coaches import services, views
from portal.extensions import db
from portal.models import Role, SubscriptionStatus, User
from tests.builders import make_connected_account, make_membership, make_slot, make_user
from tests.conftest import PASSWORD, csrf_token, login, statements_run


def _coach(name: str, price: str = "100.00", **profile: object) -> User:
    coach = make_user(Role.COACH, name=name, session_price=Decimal(price), **profile)
    make_connected_account(coach)
    return coach


def _listed(client: FlaskClient, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return re.findall(r'<h2><a href="/coaches/\d+">([^<]+)</a></h2>', response.text)


def _badge(topic: str) -> str:
    return f'<span class="badge">{topic}</span>'


def _statements(client: FlaskClient, url: str) -> tuple[list[str], str]:
    with statements_run() as seen:
        text = client.get(url).text
    return seen, text


# --- search and filters -----------------------------------------------------------------------


def test_the_directory_finds_coaches_by_part_of_their_name_whatever_the_case(
    client: FlaskClient,
) -> None:
    _coach("Ada Lovelace")
    _coach("Grace Hopper")
    _coach("Adam Smith")
    assert sorted(_listed(client, "/?q=ada")) == ["Ada Lovelace", "Adam Smith"]
    assert _listed(client, "/?q=  HOPPER ") == ["Grace Hopper"]
    assert _listed(client, "/?q=") == ["Adam Smith", "Grace Hopper", "Ada Lovelace"]


def test_like_wildcards_in_a_search_match_only_themselves(client: FlaskClient) -> None:
    _coach("Ada Lovelace")
    _coach("Bob 100% Coach")
    _coach("Under_score")
    assert _listed(client, "/?q=%") == ["Bob 100% Coach"]
    assert _listed(client, "/?q=_") == ["Under_score"]
    assert _listed(client, "/?q=%5C") == []  # a backslash
    page = client.get("/?q=nobody")
    assert "No coach taking bookings matches that" in page.text


def test_the_directory_narrows_to_a_price_range_inclusive(client: FlaskClient) -> None:
    _coach("Cheap", "40.00")
    _coach("Middle", "80.00")
    _coach("Dear", "150.00")
    assert _listed(client, "/?min_price=80") == ["Dear", "Middle"]
    assert _listed(client, "/?max_price=80.00") == ["Middle", "Cheap"]
    assert _listed(client, "/?min_price=50&max_price=100") == ["Middle"]
    assert _listed(client, "/?min_price=50&max_price=100&q=mid") == ["Middle"]


def test_searches_of_one_shape_share_one_statement_each_with_its_own_values(
    client: FlaskClient,
) -> None:
    """A filter's values are bound parameters of a statement built once per set of filters, so
    a search costs no new statement, and no search answers with an earlier one's values."""
    _coach("Cheap Ada", "40.00")
    _coach("Dear Ada", "150.00")
    _coach("Dear Grace", "160.00")
    searches = [
        ("/?q=ada&min_price=100", ["Dear Ada"]),
        ("/?q=grace&min_price=100", ["Dear Grace"]),
        ("/?q=ada&min_price=10", ["Dear Ada", "Cheap Ada"]),
        ("/?q=ada", ["Dear Ada", "Cheap Ada"]),
    ]
    executed: list[object] = []
    listener = lambda _conn, statement, *_rest: executed.append(statement)  # noqa: E731
    version_reads = []  # the first statement of each page
    sa.event.listen(db.engine, "before_execute", listener)
    try:
        for url, names in searches:
            first = len(executed)
            assert _listed(client, url) == names
            version_reads.append(executed[first])
    finally:
        sa.event.remove(db.engine, "before_execute", listener)
    assert version_reads[0] is version_reads[1] is version_reads[2]
    assert version_reads[3] is not version_reads[0]  # no price, another statement


def test_coaches_choose_their_topics_and_the_directory_filters_by_one(
    app: Flask, client: FlaskClient
) -> None:
    ada = _coach("Ada Lovelace")
    _coach("Grace Hopper")
    coach_client = app.test_client()
    login(coach_client, ada)
    saved = coach_client.post(
        "/coach/profile",
        data={
            "csrf_token": csrf_token(coach_client),
            "headline": "Engines",
            "bio": "",
            "session_price": "100.00",
            "currency": "USD",
            "session_minutes": "60",
            "is_published": "y",
            "topics": ["engineering", "career"],
        },
    )
    assert saved.status_code == 303
    assert _listed(client, "/?topic=engineering") == ["Ada Lovelace"]
    assert _listed(client, "/?topic=leadership") == []
    page = client.get("/").text
    assert _badge("Software engineering") in page and _badge("Career moves") in page
    assert _badge("Software engineering") in client.get(f"/coaches/{ada.id}").text
    form = coach_client.get("/coach/profile").text
    assert re.search(r'value="engineering"[^>]*checked|checked[^>]*value="engineering"', form)

    services.update_profile(
        db.session.get(User, ada.id).coach_profile,
        headline="Engines",
        bio="",
        session_price=Decimal("100.00"),
        currency="USD",
        session_minutes=60,
        is_published=True,
        topics=["career"],
    )
    db.session.commit()
    assert _listed(client, "/?topic=engineering") == []  # shown at once on a kept page
    assert _badge("Software engineering") not in client.get("/").text
    assert _listed(client, "/?topic=career") == ["Ada Lovelace"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("q=" + "a" * 81, "at most 80 characters"),
        ("min_price=cheap", "Enter a price as plain digits"),
        ("max_price=1e9", "Enter a price as plain digits"),
        ("min_price=-5", "Enter a price of 0 or more"),
        ("min_price=99999999999", "price"),
        ("min_price=100&max_price=50", "The lowest price is above the highest"),
        ("topic=astrology", "Choose a topic from the list"),
    ],
)
def test_a_filter_that_cannot_be_read_is_a_400_that_says_why(
    client: FlaskClient, query: str, message: str
) -> None:
    _coach("Ada Lovelace")
    response = client.get(f"/?{query}")
    assert response.status_code == 400
    assert message in response.text


def test_pages_of_a_narrowed_directory_keep_the_filter(client: FlaskClient) -> None:
    for n in range(services.DIRECTORY_PAGE_SIZE + 2):
        _coach(f"Coach {n:02d}", "50.00")
    _coach("Someone Else", "50.00")
    _coach("Coach Dear", "500.00")
    first = client.get("/?q=coach&max_price=100")
    assert first.text.count('class="card coach-card"') == services.DIRECTORY_PAGE_SIZE
    link = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    assert "q=coach" in url and "max_price=100" in url
    assert _listed(client, url) == ["Coach 01", "Coach 00"]


def test_members_see_their_price_on_cards_kept_for_visitors(
    app: Flask, client: FlaskClient
) -> None:
    _coach("Ada Lovelace", "100.00")
    assert "$100.00" in client.get("/").text  # kept for visitors at the list price
    member = make_user(Role.MENTEE, password=PASSWORD)
    make_membership(member, SubscriptionStatus.ACTIVE)
    member_client = app.test_client()
    login(member_client, member)
    page = member_client.get("/").text
    assert "$90.00" in page and "Member price" in page
    assert "Member price" not in client.get("/").text


# --- kept pages show every change at once -----------------------------------------------------


def test_a_kept_directory_page_costs_one_statement_and_shows_every_change_at_once(
    app: Flask, client: FlaskClient
) -> None:
    ada = _coach("Ada Lovelace", headline="Engines")
    grace = _coach("Grace Hopper")
    slot = make_slot(ada, hours_from_now=72)
    client.get("/")
    seen, page = _statements(client, "/")
    assert len(seen) == 1, seen  # the version read: every card is kept
    assert "Engines" in page and page.count("Next open times") == 1

    services.update_profile(
        ada.coach_profile,
        headline="Analytical engines",
        bio="",
        session_price=Decimal("120.00"),
        currency="USD",
        session_minutes=60,
        is_published=True,
    )
    db.session.commit()
    page = client.get("/").text
    assert "Analytical engines" in page and "$120.00" in page

    services.add_slot(grace, slot.starts_at, 60)
    db.session.commit()
    assert client.get("/").text.count("Next open times") == 2

    mentee = make_user(Role.MENTEE)
    hold.hold_slot(mentee, slot.id)  # the time is held: no longer open
    db.session.commit()
    assert client.get("/").text.count("Next open times") == 1

    grace.name = "Rear Admiral Hopper"
    db.session.commit()
    assert "Rear Admiral Hopper" in client.get("/").text

    grace.stripe_connected_account.charges_enabled = False  # account.updated, as Stripe says
    db.session.commit()
    assert _listed(client, "/") == ["Ada Lovelace"]


def test_kept_pages_change_when_an_open_time_nears_or_starts_with_nothing_written(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = _coach("Ada Lovelace")
    slot = make_slot(ada, hours_from_now=30)
    page = f"/coaches/{ada.id}"
    assert "Not refundable" not in client.get(page).text
    assert "Not refundable" not in client.get("/").text

    def clock_at(moment: datetime) -> None:
        for module in (hold, views, caching):
            monkeypatch.setattr(module, "utcnow", lambda: moment)

    clock_at(slot.starts_at - hold.REFUND_WINDOW + timedelta(seconds=1))
    assert "Not refundable" in client.get(page).text
    assert "Not refundable" in client.get("/").text
    clock_at(slot.starts_at + timedelta(seconds=1))
    assert "No open times right now" in client.get(page).text
    assert "No open times right now" in client.get("/").text


# --- HTTP caching -----------------------------------------------------------------------------


class Listing(NamedTuple):
    coach: User
    url: str


@pytest.fixture(params=["/", "/coaches/{coach}"], ids=["directory", "coach page"])
def listing(app: Flask, request: pytest.FixtureRequest) -> Listing:
    """The directory or a coach's page, listing Ada Lovelace ("Engines") with an open time."""
    ada = _coach("Ada Lovelace", headline="Engines")
    make_slot(ada, hours_from_now=72)
    return Listing(ada, request.param.format(coach=ada.id))


def test_anonymous_pages_may_be_kept_by_a_cdn_and_answer_304_until_they_change(
    client: FlaskClient, listing: Listing
) -> None:
    url = listing.url
    first = client.get(url)
    assert first.status_code == 200
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    assert 0 < int(re.search(r"max-age=(\d+)", first.headers["Cache-Control"]).group(1)) <= 60
    assert "Cookie" in first.headers["Vary"]
    assert "Set-Cookie" not in first.headers  # one visitor's session is never shared
    assert "X-CSRFToken" not in first.text
    tag = first.headers["ETag"]

    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == tag and "Cookie" in again.headers["Vary"]
    # the page it confirms keeps its own script nonce
    assert "Content-Security-Policy" not in again.headers

    listing.coach.coach_profile.headline = "Analytical engines"
    db.session.commit()
    changed = client.get(url, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and "Analytical engines" in changed.text
    assert changed.headers["ETag"] != tag


def test_a_kept_anonymous_page_is_answered_without_rendering_each_time_with_its_own_nonce(
    client: FlaskClient, listing: Listing
) -> None:
    url = listing.url
    first = client.get(url)
    rendered: list[str] = []
    with template_rendered.connected_to(lambda _app, template, **_: rendered.append(template.name)):
        seen, _ = _statements(client, url)
        again = client.get(url)
    assert rendered == [] and len(seen) == 1, (rendered, seen)  # the version read, nothing more

    nonces = []
    for response in (first, again):
        nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])[1]
        assert re.findall(r'<script [^>]*nonce="([^"]+)"', response.text) == [nonce, nonce]
        nonces.append(nonce)
    assert nonces[0] != nonces[1]
    assert again.text.replace(nonces[1], "-") == first.text.replace(nonces[0], "-")
    assert again.headers["ETag"] == first.headers["ETag"]


def test_signed_in_pages_are_kept_by_no_one(app: Flask, listing: Listing) -> None:
    mentee = make_user(Role.MENTEE, password=PASSWORD)
    client = app.test_client()
    login(client, mentee)
    response = client.get(listing.url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "Cookie" in response.headers["Vary"]
    assert "ETag" not in response.headers
    # a tag from an anonymous page never gets a signed-in visitor a 304
    anonymous = app.test_client().get(listing.url)
    again = client.get(listing.url, headers={"If-None-Match": anonymous.headers["ETag"]})
    assert again.status_code == 200


def test_a_page_with_a_message_to_show_once_is_not_shared(app: Flask, client: FlaskClient) -> None:
    _coach("Ada Lovelace")
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "You are signed out.")]
    response = client.get("/")
    assert "You are signed out." in response.text
    assert response.headers["Cache-Control"] == "private, no-store"
