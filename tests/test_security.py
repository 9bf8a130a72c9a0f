"""The web security rails of RELIABILITY.md 20-28, seen from the browser's side."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner

from portal import create_app
from portal.config import UnsafeConfiguration
from portal.extensions import limiter
from portal.models import Role, User
from portal.security import PUBLIC, allow
from portal.throttles import init_throttles
from tests.builders import make_user
from tests.conftest import PASSWORD, csrf_token, login, make_app


def test_htmx_post_without_csrf_token_is_refused(client: FlaskClient, coach: User) -> None:
    login(client, coach)
    response = client.post(
        "/coach/profile", data={"headline": "changed"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert coach.coach_profile.headline != "changed"


def test_htmx_post_with_token_in_header_is_accepted(client: FlaskClient, coach: User) -> None:
    login(client, coach)
    response = client.post(
        "/coach/profile",
        data={
            "headline": "Now via HTMX",
            "session_price": "80.00",
            "currency": "USD",
            "session_minutes": "60",
        },
        headers={"HX-Request": "true", "X-CSRFToken": csrf_token(client)},
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/coach/profile"


def test_a_sessions_pages_carry_the_token_first_signed_for_it(
    client: FlaskClient, mentee: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def page_token() -> str:  # on the <body>, for HTMX: the directory constructs no form
        return re.search(r'"X-CSRFToken": "([^"]+)"', client.get("/").text).group(1)

    login(client, mentee)
    first = page_token()
    # Two minutes later Flask-WTF would sign the session's secret with another time.
    later = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda signer: later(signer) + 120)
    assert page_token() == first
    response = client.post("/account/logout", headers={"X-CSRFToken": first})
    assert response.status_code == 303
    assert client.get("/account/profile").status_code == 302


def test_a_sessions_pages_carry_the_token_of_the_configured_field(
    app: Flask, client: FlaskClient, mentee: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(client, mentee)  # its token is signed for the session's secret under `csrf_token`
    monkeypatch.setitem(app.config, "WTF_CSRF_FIELD_NAME", "portal_csrf")
    token = re.search(r'"X-CSRFToken": "([^"]+)"', client.get("/").text).group(1)
    # Flask-WTF checks it against the secret kept under the configured name.
    response = client.post("/account/logout", headers={"X-CSRFToken": token})
    assert response.status_code == 303
    assert client.get("/account/profile").status_code == 302


def test_get_on_an_action_is_method_not_allowed(client: FlaskClient, mentee: User) -> None:
    login(client, mentee)
    assert client.get("/account/logout").status_code == 405


def test_session_cookie_is_httponly_and_lax(client: FlaskClient, mentee: User) -> None:
    client.get("/account/login")
    token = csrf_token(client)
    response = client.post(
        "/account/login", data={"email": mentee.email, "password": PASSWORD, "csrf_token": token}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_production_cookies_are_secure_and_hsts_is_sent(migrated_database: str) -> None:
    app = make_app(migrated_database, SESSION_COOKIE_SECURE=True, SEND_HSTS=True)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/account/login")
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    assert "Secure" in response.headers["Set-Cookie"]


def test_login_starts_a_new_session(client: FlaskClient, mentee: User) -> None:
    client.get("/account/login")
    before = client.get_cookie("session").value
    login(client, mentee)
    after = client.get_cookie("session").value
    assert before != after


def test_logout_ends_the_session(client: FlaskClient, mentee: User) -> None:
    login(client, mentee)
    client.post("/account/logout", headers={"X-CSRFToken": csrf_token(client)})
    assert client.get("/account/profile").status_code == 302


@pytest.mark.parametrize(
    "path", ["/", "/account/login", "/coaches/999", "/healthz"], ids=["page", "form", "404", "api"]
)
def test_security_headers_on_every_response(client: FlaskClient, path: str) -> None:
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "unsafe-eval" not in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self' 'nonce-" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in headers  # development and tests are plain HTTP


def test_a_signed_in_page_carries_each_security_header_once(
    client: FlaskClient, mentee: User
) -> None:
    login(client, mentee)
    response = client.get("/account/profile")
    for name in (
        "Content-Security-Policy",
        "X-Content-Type-Options",
        "X-Frame-Options",
        "Referrer-Policy",
        "Cross-Origin-Opener-Policy",
        "Permissions-Policy",
        "Cache-Control",
    ):
        assert len(response.headers.getlist(name)) == 1, name
    assert response.headers["Cache-Control"] == "no-store"
    nonce = response.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.text


def test_only_a_signed_in_answer_is_kept_by_no_cache(client: FlaskClient, mentee: User) -> None:
    assert "Cache-Control" not in client.get("/healthz").headers  # no cookie, nobody signed in
    login(client, mentee)
    assert client.get("/healthz").headers["Cache-Control"] == "no-store"


def test_signing_in_without_a_cookie_answers_with_the_session_kept_by_no_cache(
    app: Flask, mentee: User
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False  # a client that keeps no cookie has no token to send
    client = app.test_client(use_cookies=False)
    response = client.post("/account/login", data={"email": mentee.email, "password": PASSWORD})
    assert response.status_code == 303
    assert response.headers["Set-Cookie"].startswith("session=")
    assert response.headers["Cache-Control"] == "no-store"


def test_the_session_cookie_follows_the_secret_key(client: FlaskClient, mentee: User) -> None:
    login(client, mentee)
    signed_with_old_key = client.get_cookie("session").value
    app = client.application
    old_key = app.secret_key
    app.secret_key = "a-new-secret-key-for-this-test"  # noqa: S105 - a test's key
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    assert client.get("/account/profile").status_code == 200  # the old key still opens it
    app.config["SECRET_KEY_FALLBACKS"] = []
    client.set_cookie("session", signed_with_old_key)
    assert client.get("/account/profile").status_code == 302  # the old key is retired


def test_each_page_gets_a_fresh_script_nonce(client: FlaskClient) -> None:
    first = client.get("/").headers["Content-Security-Policy"]
    second = client.get("/").headers["Content-Security-Policy"]
    assert first != second


def test_htmx_is_configured_without_eval(client: FlaskClient) -> None:
    page = client.get("/").text
    assert '"allowEval": false' in page
    assert "vendor/htmx.min.js" in page


def test_url_serving_page_and_fragment_varies_on_hx_request(
    client: FlaskClient, coach: User
) -> None:
    login(client, coach)
    response = client.get("/coach/profile", headers={"HX-Request": "true"})
    assert "HX-Request" in response.headers["Vary"]
    assert "<html" not in response.text


@pytest.mark.parametrize(
    "target",
    ["https://evil.example", "//evil.example", "/\\evil.example", "https:evil.example"],
)
def test_next_never_leaves_the_site(client: FlaskClient, mentee: User, target: str) -> None:
    token = csrf_token(client)
    response = client.post(
        "/account/login",
        query_string={"next": target},
        data={"email": mentee.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_next_on_the_site_is_followed(client: FlaskClient, mentee: User) -> None:
    token = csrf_token(client)
    response = client.post(
        "/account/login",
        query_string={"next": "/account/profile"},
        data={"email": mentee.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/account/profile"


def test_eleventh_quick_failed_login_is_throttled(client: FlaskClient, mentee: User) -> None:
    token = csrf_token(client)
    responses = [
        client.post(
            "/account/login",
            data={"email": mentee.email, "password": "wrong password!", "csrf_token": token},
        )
        for _ in range(11)
    ]
    assert [r.status_code for r in responses[:10]] == [400] * 10
    assert responses[10].status_code == 429
    assert "Too many attempts" in responses[10].text


def test_throttle_is_per_account_too(app: Flask, mentee: User) -> None:
    token_clients = []
    for n in range(11):
        client = app.test_client()
        environ = {"REMOTE_ADDR": f"10.0.0.{n + 1}"}
        client.environ_base.update(environ)
        token_clients.append((client, csrf_token(client)))
    statuses = [
        client.post(
            "/account/login",
            data={"email": mentee.email, "password": "wrong password!", "csrf_token": token},
        ).status_code
        for client, token in token_clients
    ]
    assert statuses[-1] == 429


def test_a_limit_on_every_route_passes_no_route_over(migrated_database: str) -> None:
    # Routes that declare no limit are passed over by the limiter only while no limit covers
    # every route; the one limiter is shared by every app of the test run, hence the reset.
    try:
        app = make_app(migrated_database, RATELIMIT_DEFAULT="2 per minute")
        client = app.test_client()
        assert [client.get("/healthz").status_code for _ in range(3)] == [200, 200, 429]
    finally:
        limiter.limit_manager.set_default_limits([])


def test_a_limit_checked_within_a_route_that_declares_none_still_throttles(
    migrated_database: str,
) -> None:
    app = make_app(migrated_database)

    @app.get("/limited-within")
    @allow(PUBLIC)
    def limited_within() -> str:
        with limiter.limit("1 per minute"):
            return "done"

    init_throttles(app)  # as `create_app` does once every route is registered
    client = app.test_client()
    assert [client.get("/limited-within").status_code for _ in range(2)] == [200, 429]


def test_a_route_without_a_limit_is_never_throttled(client: FlaskClient) -> None:
    responses = [client.get("/healthz") for _ in range(30)]
    assert {r.status_code for r in responses} == {200}
    assert "X-RateLimit-Limit" not in responses[-1].headers


def test_unknown_email_and_wrong_password_get_the_same_answer(
    client: FlaskClient, mentee: User
) -> None:
    token = csrf_token(client)
    wrong = client.post(
        "/account/login",
        data={"email": mentee.email, "password": "nope nope nope", "csrf_token": token},
    )
    unknown = client.post(
        "/account/login",
        data={"email": "nobody@example.com", "password": "nope nope nope", "csrf_token": token},
    )
    assert wrong.status_code == unknown.status_code == 400
    assert "do not match an account" in wrong.text
    assert "do not match an account" in unknown.text


def test_long_passphrases_are_welcome(client: FlaskClient) -> None:
    passphrase = "a very long passphrase " * 8
    token = csrf_token(client)
    response = client.post(
        "/account/signup",
        data={
            "name": "Long",
            "email": "long@example.com",
            "password": passphrase,
            "role": "mentee",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303


def test_coach_bio_is_escaped_and_inert(client: FlaskClient, app: Flask) -> None:
    coach = make_user(Role.COACH, bio='<div hx-get="/admin" hx-trigger="load">hi</div>')
    page = client.get(f"/coaches/{coach.id}").text
    assert '<div hx-get="/admin"' not in page
    assert "&lt;div hx-get=&#34;/admin&#34; hx-trigger=&#34;load&#34;&gt;" in page


def test_production_refuses_unsafe_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(UnsafeConfiguration) as refused:
        create_app(env_name="production")
    message = str(refused.value)
    assert "SECRET_KEY" in message
    assert "PostgreSQL" in message
    assert "STRIPE_WEBHOOK_SECRET" in message


def test_production_starts_with_safe_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.internal/portal")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_123")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_1")
    monkeypatch.setenv("STRIPE_CONNECT_WEBHOOK_SECRET", "whsec_2")
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://redis.internal:6379")
    app = create_app(env_name="production")
    assert app.config["SESSION_COOKIE_SECURE"] is True
