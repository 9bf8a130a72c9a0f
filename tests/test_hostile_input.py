"""The guard: hostile input anywhere never reaches a 500, never writes on a refusal, and every
refusal says what was wrong.

The walk finds its targets itself: as each kind of visitor it opens every GET route of the URL
map (path ids filled from a small world of rows), reads every form on each page (its action,
method, fields and their current values) and every query parameter its links use, and adds the
paging cursors. Then it sends each field and parameter, one at a time, every value of the
hostile corpus, the other fields keeping the page's values. A new route or field is walked as
soon as a page shows it; nothing here names one.

For every answer: no 5xx; when it is a 4xx, every table has as many rows as before; and a 400
carries a specific message (a field's error, an error flash, or an error page with more than
the generic words).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.errors import MESSAGES
from portal.extensions import db
from portal.models import Base, Booking, Role, SessionStatus, StripeEvent
from portal.models.enums import EventStatus
from tests.builders import (
    make_connected_account,
    make_payment,
    make_refund,
    make_slot,
    make_user,
)
from tests.conftest import PASSWORD, _empty_all_tables, csrf_token, login, make_app

MISSING = object()
HOSTILE: list[object] = [
    "sNaN",
    "NaN",
    "Infinity",
    "-1",
    "1e30",
    "1e999999",
    "9" * 25,
    "\u00b2",
    "\x00",
    "name\x00with a NUL",
    "x" * 100_000,
    "<script>alert(1)</script>",
    "' OR 1=1; DROP TABLE users; --",
    "",
    MISSING,
    ["1", "2"],  # a field sent twice: a list where one value is expected
]
BAD_CURSORS = ["\u00b2_1", "1_\u00b2", "9" * 25 + "_1", "sNaN_1", "nope", "_"]
CURSOR_PARAMETERS = ("after", "before")
# Routes the walk does not open or post to: signing out ends the walk's session, and the
# webhook endpoints take signed JSON from Stripe, not forms (their tests forge and fuzz them).
SKIPPED_ENDPOINTS = {"static", "accounts.logout"}
SKIPPED_PREFIXES = ("/webhooks/",)
GENERIC_400 = MESSAGES[400][1]
EXPIRED_FORM = "This form has expired"


@dataclass
class Target:
    """Where input goes: a form's action (or a page's own URL, for its query parameters)."""

    method: str
    path: str
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    """Every <form> of a page with its fields' current values, and the links' query names."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Target] = []
        self.link_parameters: dict[str, set[str]] = {}
        self._form: Target | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "?" in a.get("href", ""):
            parts = urlsplit(a["href"])
            if not parts.netloc:
                names = {k for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
                self.link_parameters.setdefault(parts.path, set()).update(names)
        elif tag == "form":
            self._form = Target(a.get("method", "get").upper(), a.get("action", ""))
            self.forms.append(self._form)
        elif self._form is None or not a.get("name"):
            return
        elif tag == "input":
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                self._form.fields.setdefault(a["name"], "")
            elif kind not in ("submit", "button", "image", "reset"):
                value = a.get("value", "" if kind != "checkbox" else "y")
                if not value and self._form.method == "POST":
                    value = _valid_sample(kind)
                self._form.fields[a["name"]] = value
        elif tag == "select":
            self._select = a["name"]
            self._form.fields.setdefault(a["name"], "")
        elif tag == "option" and self._select and "selected" in a:
            self._form.fields[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self._form.fields[a["name"]] = ""

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea:
            self._form.fields[self._textarea] += data.strip()

    def handle_endtag(self, tag: str) -> None:
        form, textarea = self._form, self._textarea
        if tag == "textarea" and form is not None and textarea and not form.fields[textarea]:
            form.fields[textarea] = _valid_sample("text") if form.method == "POST" else ""
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _valid_sample(kind: str) -> str:
    """A value a person might type into an empty field of this type, so that a POST gets past
    its other fields and the hostile value in the one under test reaches the code behind it."""
    soon = datetime.now(UTC) + timedelta(days=10)
    return {
        "email": "guard.sample@example.com",
        "password": "a fairly long passphrase",
        "number": "30",
        "date": soon.date().isoformat(),
        "datetime-local": soon.strftime("%Y-%m-%dT%H:00"),
    }.get(kind, "Sample text" if kind in ("text", "search") else "")


@dataclass
class World:
    ids: dict[str, str]
    users: dict[Role, object]


@pytest.fixture
def guard_app(migrated_database: str) -> Iterator[Flask]:
    # Throttles would answer 429 before the fields are read, so their limits are out of reach
    # (RATELIMIT_ENABLED would switch off the one shared limiter for every later app too).
    # Stripe is a closed port.
    unlimited = "100000 per minute"
    app = make_app(
        migrated_database,
        LOGIN_RATE_LIMIT=unlimited,
        SIGNUP_RATE_LIMIT=unlimited,
        PASSWORD_CHANGE_RATE_LIMIT=unlimited,
        STRIPE_API_BASE="http://127.0.0.1:9",
    )
    with app.app_context():
        yield app
        db.session.remove()
        _empty_all_tables()
        db.engine.dispose()


@pytest.fixture
def world(guard_app: Flask) -> World:
    admin = make_user(Role.ADMIN, "admin@example.com", password=PASSWORD)
    mentee = make_user(Role.MENTEE, "mentee@example.com", password=PASSWORD)
    coach = make_user(
        Role.COACH,
        "coach@example.com",
        password=PASSWORD,
        name="Grace Hopper",
        session_price=Decimal("100.00"),
        is_published=True,
    )
    make_connected_account(coach)
    coach.coach_profile.available_balance = Decimal("80.00")  # so "Pay out now" has its form
    slot = make_slot(coach, hours_from_now=72)
    make_slot(coach, hours_from_now=96)
    payment = make_payment(coach, mentee)
    refund = make_refund(payment, "10.00")
    booking = Booking(
        coach_id=coach.id,
        mentee_id=mentee.id,
        starts_at=datetime.now(UTC) + timedelta(days=5),
        status=SessionStatus.CONFIRMED,
        stripe_checkout_session_id="cs_guard",
        price_amount=Decimal("100.00"),
        platform_fee_amount=Decimal("20.00"),
        coach_share=Decimal("80.00"),
    )
    event = StripeEvent(
        stripe_event_id="evt_guard",
        type="payment_intent.succeeded",
        payload={"id": "evt_guard", "type": "payment_intent.succeeded"},
        status=EventStatus.PROCESSED,
    )
    db.session.add_all([booking, event])
    db.session.commit()
    ids = {
        "coach_id": coach.id,
        "slot_id": slot.id,
        "booking_id": booking.id,
        "transaction_id": payment.id,
        "refund_id": refund.id,
        "user_id": mentee.id,
        "stripe_event_id": event.stripe_event_id,
    }
    users = {Role.ADMIN: admin, Role.MENTEE: mentee, Role.COACH: coach}
    return World({k: str(v) for k, v in ids.items()}, users)


def _row_counts() -> tuple[int, ...]:
    tables = Base.metadata.sorted_tables
    query = sa.union_all(*(sa.select(sa.func.count()).select_from(t) for t in tables))
    with db.engine.connect() as connection:
        return tuple(connection.execute(query).scalars())


def _pages(app: Flask, world: World) -> list[str]:
    """Every GET route, its path ids filled from the world (a route needing others is left)."""
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED_ENDPOINTS or rule.rule.startswith(SKIPPED_PREFIXES):
            continue
        if "GET" not in rule.methods or not set(rule.arguments) <= set(world.ids):
            continue
        urls.append(re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: world.ids[m.group(1)], rule.rule))
    return sorted(urls)


def _beneath(path: str, pages: list[str]) -> list[str]:
    """The pages under a filter form's path that take no id of their own (its totals, export):
    they read the same filter from their query string."""
    return [url for url in pages if url.startswith(path + "/") and not re.search(r"/\d", url)]


def _targets(client: FlaskClient, pages: list[str]) -> list[Target]:
    """The forms and query parameters the pages show this visitor, each once."""
    found: dict[tuple[str, str, frozenset[str]], Target] = {}
    for url in pages:
        response = client.get(url)
        parser = _Forms()
        if response.status_code == 200 and response.mimetype == "text/html":
            parser.feed(response.text)
        for form in parser.forms:
            form.path = urlsplit(form.path or url).path or url
            if form.method == "POST" and not set(form.fields) - {"csrf_token"}:
                continue  # a button: it carries nothing but its token
            if form.path.startswith(SKIPPED_PREFIXES) or form.path == "/account/logout":
                continue
            found.setdefault((form.method, form.path, frozenset(form.fields)), form)
            if form.method == "GET":
                for other in _beneath(form.path, pages):
                    same = Target("GET", other, dict(form.fields))
                    found.setdefault(("GET", other, frozenset(form.fields)), same)
        if response.status_code == 200:
            names = set(CURSOR_PARAMETERS) | parser.link_parameters.get(url, set())
            query = Target("GET", url, dict.fromkeys(sorted(names), ""))
            found.setdefault(("GET", url, frozenset(names)), query)
    return list(found.values())


def _send(client: FlaskClient, target: Target, name: str, value: object, token: str) -> object:
    data: dict[str, object] = {k: v for k, v in target.fields.items() if v != "" or k == name}
    for key in data:
        if key.endswith("csrf_token"):
            data[key] = token  # the session's current token, whatever the page said then
    if value is MISSING:
        data.pop(name, None)
    else:
        data[name] = value
    if target.method == "GET":
        return client.get(target.path, query_string=data)
    return client.post(target.path, data=data)


def _says_what_was_wrong(text: str) -> bool:
    if GENERIC_400 in text:
        return False
    return (
        'class="error"' in text
        or "flash-error" in text
        or ('class="card error-page"' in text and "<p>" in text)
    )


def _visit(app: Flask, world: World, visitor: str | Role) -> tuple[FlaskClient, str]:
    """A fresh browser for the visitor, signed in, and its session's CSRF token."""
    client = app.test_client()
    if visitor != "anonymous":
        login(client, world.users[visitor])  # type: ignore[arg-type]
    return client, csrf_token(client)


def _still_visiting(
    app: Flask, world: World, visitor: str | Role, client: FlaskClient
) -> tuple[FlaskClient, str]:
    """The same browser if it is still signed in as the visitor (a new CSRF token), else anew:
    signing in again within 30 seconds waits for the next two-factor code."""
    if visitor != "anonymous" and client.get("/account/profile").status_code == 200:
        return client, csrf_token(client)
    return _visit(app, world, visitor)


def _walk(app: Flask, world: World, visitor: str | Role) -> list[str]:
    client, token = _visit(app, world, visitor)
    failures: list[str] = []
    targets = _targets(client, _pages(app, world))
    assert targets, "the walk found nothing to send"
    before = _row_counts()  # read again only after an answer that may have written
    for target in targets:
        for name in target.fields:
            if name.endswith("csrf_token"):  # a bad token is the CSRF check's business
                continue
            values = HOSTILE + (BAD_CURSORS if "after" in name or "before" in name else [])
            for value in values:
                response = _send(client, target, name, value, token)
                status = response.status_code
                shown = "missing" if value is MISSING else repr(value)[:40]
                where = f"{visitor} {target.method} {target.path} {name}={shown}"
                if status >= 500:
                    failures.append(f"{where}: {status}")
                elif 400 <= status < 500:
                    after = _row_counts()
                    if after != before:
                        failures.append(f"{where}: {status} but rows were written")
                        before = after
                    if status == 400 and not _says_what_was_wrong(response.text):
                        failures.append(f"{where}: 400 without saying what was wrong")
                    if EXPIRED_FORM in response.text:
                        failures.append(f"{where}: the walk's session was lost")
                else:
                    before = _row_counts()
                    if target.method == "POST":  # it may have signed someone in or out
                        client, token = _still_visiting(app, world, visitor, client)
    return failures


@pytest.mark.parametrize("visitor", ["anonymous", Role.MENTEE, Role.COACH, Role.ADMIN], ids=str)
def test_hostile_input_in_every_field_and_parameter_is_refused_cleanly(
    guard_app: Flask, world: World, visitor: str | Role
) -> None:
    failures = _walk(guard_app, world, visitor)
    assert failures == []
