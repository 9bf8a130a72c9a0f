"""Template filters and globals shared by every page."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from enum import Enum
from functools import cache, lru_cache
from typing import NamedTuple

from flask import Flask, current_app, g, has_request_context, request, session, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from portal.models.enums import Role
from portal.money import format_money
from portal.security import is_signed_in
from portal.time_zones import (
    DEFAULT_TIME_ZONE,
    FULL,
    is_time_zone,
    show_time,
    suggested_time_zones,
)

# Set by static/js/time_zone.js from the browser's own zone, for visitors who are not signed in.
TIME_ZONE_COOKIE = "tz"
# A template rendered for someone other than the signed-in person (an email) names their zone.
READER_TIME_ZONE = "reader_time_zone"


def viewer_time_zone() -> str:
    """The zone a page shows times in: the signed-in person's own; for a visitor, the zone
    their browser reported (a cookie, checked against the list); else UTC."""
    if not has_request_context():
        return DEFAULT_TIME_ZONE
    if is_signed_in():
        return current_user.time_zone
    proposed = request.cookies.get(TIME_ZONE_COOKIE)
    return proposed if is_time_zone(proposed) else DEFAULT_TIME_ZONE


@pass_context
def _format_datetime(
    context: Context, value: datetime | None, fmt: str = FULL, zone: str | None = None
) -> str:
    """`{{ moment|datetime }}`: a UTC moment in the reader's zone, with its abbreviation;
    `zone=` shows it in another person's zone (a coach's own time on their page)."""
    return show_time(value, zone or context.get(READER_TIME_ZONE) or viewer_time_zone(), fmt)


@cache
def time_zone_options() -> Markup:
    """The `<option>`s of the profile's time zone list, escaped once per process: the same 500
    names on every render were most of the profile page's time."""
    return Markup("").join(Markup('<option value="{}">').format(n) for n in suggested_time_zones())


def _words(value: Enum) -> str:
    """`{{ status|words }}`: an enum's value as words ("partially refunded")."""
    return str(value.value).replace("_", " ")


def _format_money(amount: Decimal | None, currency: str = "USD") -> str:
    return "" if amount is None else format_money(amount, currency)


# Links each role sees in the header; a link appears once its blueprint is registered.
NAV_LINKS: dict[Role, list[tuple[str, str]]] = {
    Role.MENTEE: [
        ("coaches.my_sessions", "My sessions"),
        ("billing.cards", "Cards"),
        ("billing.membership", "Membership"),
        ("billing.invoices", "Invoices"),
    ],
    Role.COACH: [
        ("coaches.my_profile", "My profile"),
        ("coaches.my_schedule", "Schedule"),
        ("payouts.dashboard", "Earnings"),
    ],
    Role.ADMIN: [
        ("admin.transactions", "Transactions"),
        ("admin.events", "Events"),
        ("admin.users", "Users"),
    ],
}


def csrf_token() -> str:
    """`{{ csrf_token() }}`: the request's token, made by Flask-WTF the first time and kept by
    it in `g`; a signed-in page asks for it two or three times, and each call of Flask-WTF's
    own read its configuration again before finding the kept token.

    Flask-WTF signs the session's secret token anew for each request, with the time; the
    portal's tokens do not expire (`WTF_CSRF_TIME_LIMIT` is None: a token lives as long as its
    session), so a token Flask-WTF signed for this session's secret in an earlier request is
    as good and is given again, as Flask-WTF would give it (in `g`, for the forms too). A view
    that builds a form has had Flask-WTF sign one already, and that one is given; with a time
    limit, each request's token is signed anew as before.
    """
    config = current_app.config
    field_name = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")  # as Flask-WTF finds them
    token = g.get(field_name)
    if token is not None:
        return token
    if config["WTF_CSRF_TIME_LIMIT"] is not None:
        return generate_csrf()
    signing_key = config.get("WTF_CSRF_SECRET_KEY", current_app.secret_key)
    token = _signed_tokens.get((signing_key, session.get(field_name)))
    if token is not None:
        setattr(g, field_name, token)
        return token
    token = generate_csrf()  # makes the session's secret if it has none yet
    with _signed_tokens_lock:
        _signed_tokens[signing_key, session[field_name]] = token
        while len(_signed_tokens) > SIGNED_TOKENS_KEPT:
            del _signed_tokens[next(iter(_signed_tokens))]  # the oldest first
    return token


# The signed CSRF tokens of the sessions seen last, by signing key and session secret.
SIGNED_TOKENS_KEPT = 10_000
_signed_tokens: dict[tuple[str | bytes, str | None], str] = {}
_signed_tokens_lock = threading.Lock()


class PageFrame(NamedTuple):
    """The links of the frame every page shares (`base.html`), and each role's navigation as
    (endpoint, link, label)."""

    favicon: str
    stylesheet: str
    htmx: str
    time_zone_script: str
    directory: str
    profile: str
    logout: str
    login: str
    signup: str
    navigation: dict[Role, list[tuple[str, str, str]]]


def page_frame() -> PageFrame:
    """`{% set frame = page_frame() %}`: the frame's links, built once per process and script
    root; as one value, the frame reads each link as an item instead of calling for it (a
    template's call costs some ten function calls before the function's own)."""
    return _page_frame(request.script_root)


@lru_cache(maxsize=16)
def _page_frame(script_root: str) -> PageFrame:
    endpoints = current_app.view_functions
    return PageFrame(
        favicon=url_for("static", filename="favicon.svg"),
        stylesheet=url_for("static", filename="css/portal.css"),
        htmx=url_for("static", filename="vendor/htmx.min.js"),
        time_zone_script=url_for("static", filename="js/time_zone.js"),
        directory=url_for("coaches.directory"),
        profile=url_for("accounts.profile"),
        logout=url_for("accounts.logout"),
        login=url_for("accounts.login"),
        signup=url_for("accounts.signup"),
        navigation={
            role: [(ep, url_for(ep), label) for ep, label in links if ep in endpoints]
            for role, links in NAV_LINKS.items()
        },
    )


def frame_url(endpoint: str, filename: str | None = None) -> str:
    """`url_for` for a page's links that take no values from the request: each is built once
    per process and script root instead of on every page (the frame's are in `page_frame`)."""
    return _frame_url(request.script_root, endpoint, filename)


@lru_cache(maxsize=256)
def _frame_url(script_root: str, endpoint: str, filename: str | None) -> str:
    return url_for(endpoint, filename=filename) if filename else url_for(endpoint)


def init_templating(app: Flask) -> None:
    app.jinja_env.globals["page_frame"] = page_frame
    app.jinja_env.globals["frame_url"] = frame_url
    # In place of Flask-WTF's `csrf_token`, which it gives as a global and in every page's
    # context: this processor runs after its own, so its name wins. The same token either way.
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: {"csrf_token": csrf_token})
    app.jinja_env.filters["datetime"] = _format_datetime
    app.jinja_env.filters["money"] = _format_money
    app.jinja_env.filters["words"] = _words
    app.jinja_env.globals["Role"] = Role
    app.jinja_env.globals["viewer_time_zone"] = viewer_time_zone
    app.jinja_env.globals["time_zone_options"] = time_zone_options


def compile_templates(app: Flask) -> int:
    """Compile every template now instead of on the first request that renders it.

    gunicorn calls this in its master before forking: each worker, and each worker recycled
    later, then starts with the compiled templates instead of compiling each one again.
    """
    env = app.jinja_env
    names = env.list_templates()
    for name in names:
        env.get_template(name)
    return len(names)
