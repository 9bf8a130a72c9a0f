"""Every route declares its audience, and the URL map behaves so for every kind of visitor.

The walk requests each rule of `app.url_map` as anonymous, mentee, coach and admin. A route with
no declared audience fails here; a new route only needs its `@allow(...)` to join the walk.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import csrf
from portal.models import Role, User
from portal.security import PUBLIC, SIGNED_IN, audience_of
from tests.builders import make_user
from tests.conftest import PASSWORD, csrf_token, login

VISITORS = ["anonymous", Role.MENTEE, Role.COACH, Role.ADMIN]


def _rules(app: Flask) -> list:
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
    # Signing out ends the walk's session, so it is walked last.
    return sorted(rules, key=lambda rule: rule.endpoint == "accounts.logout")


def test_every_route_declares_who_may_use_it(app: Flask) -> None:
    undeclared = [
        rule.rule for rule in _rules(app) if audience_of(app.view_functions[rule.endpoint]) is None
    ]
    assert undeclared == []


def test_a_route_without_a_declaration_is_refused_to_everyone(app: Flask) -> None:
    app.add_url_rule("/undeclared", "undeclared", lambda: "secret")
    user = make_user(Role.ADMIN, password=PASSWORD)
    client = app.test_client()
    assert client.get("/undeclared").status_code == 403
    login(client, user)
    assert client.get("/undeclared").status_code == 403


def test_only_the_webhook_blueprint_is_exempt_from_csrf(app: Flask) -> None:
    # flask-wtf keeps exempt blueprints as objects, exempt views as dotted names.
    assert csrf._exempt_views == set()
    assert {getattr(bp, "name", bp) for bp in csrf._exempt_blueprints} == {"webhooks"}
    exempt_rules = {r.rule for r in app.url_map.iter_rules() if r.endpoint.startswith("webhooks.")}
    assert exempt_rules == {"/webhooks/stripe", "/webhooks/stripe/connect"}


def _sample_url(rule) -> str:  # type: ignore[no-untyped-def]
    # Path arguments get ids that exist for nobody, or an id-like token, so that the walk tests
    # the gate in front of the view, not the view's own lookups.
    url = rule.rule
    for name in rule.arguments:
        converter = rule._converters[name].__class__.__name__
        url = re.sub(rf"<[^>]*{name}>", "999999" if "Integer" in converter else "x_missing", url)
    return url


def _client_for(app: Flask, visitor: str | Role, users: dict[Role, User]) -> FlaskClient:
    client = app.test_client()
    if visitor != "anonymous":
        login(client, users[visitor])
    return client


def _expected(audience: frozenset[str], visitor: str | Role) -> str:
    if PUBLIC in audience:
        return "open"
    if visitor == "anonymous":
        return "sign-in"
    if SIGNED_IN in audience or str(visitor) in audience:
        return "open"
    return "forbidden"


@pytest.mark.parametrize("visitor", VISITORS, ids=str)
def test_url_map_walk(app: Flask, visitor: str | Role) -> None:
    users = {role: make_user(role, password=PASSWORD) for role in Role}
    client = _client_for(app, visitor, users)
    headers = {"X-CSRFToken": csrf_token(client)}
    failures = []
    for rule in _rules(app):
        audience = audience_of(app.view_functions[rule.endpoint])
        expected = _expected(audience, visitor)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_sample_url(rule), method=method, headers=headers)
            status = response.status_code
            location = response.headers.get("Location", "")
            sent_to_sign_in = status == 302 and location.startswith("/account/login?next=")
            if expected == "sign-in":
                ok = sent_to_sign_in
            elif expected == "forbidden":
                ok = status == 403
            else:  # the gate let it through: whatever the view says, it is not a refusal
                ok = status != 403 and not sent_to_sign_in
            if not ok:
                failures.append(f"{method} {rule.rule}: {status} {location} (expected {expected})")
    assert failures == []


def test_htmx_request_when_signed_out_gets_401_not_a_login_page(client: FlaskClient) -> None:
    response = client.get("/account/profile", headers={"HX-Request": "true"})
    assert response.status_code == 401
