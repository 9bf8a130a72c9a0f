"""Who may use each route, the headers every response carries, and safe redirects.

Every view declares its audience with `@allow(...)`; a view that declares nothing is refused for
everyone (deny by default), and the authorisation test walks the URL map to prove it. An admin
without two-factor sign-in is sent to turn it on before any admin page.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Flask,
    abort,
    current_app,
    flash,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import current_user

from portal.models.enums import Role
from portal.rendering import htmx_redirect

PUBLIC = "public"
SIGNED_IN = "signed_in"
F = TypeVar("F", bound=Callable[..., Any])


def allow(*audience: str | Role) -> Callable[[F], F]:
    """Declare who may call a view: PUBLIC, SIGNED_IN, or one or more roles."""
    if not audience:
        raise ValueError("allow() needs at least one audience")

    def decorate(view: F) -> F:
        view.allowed_audience = frozenset(str(a) for a in audience)  # type: ignore[attr-defined]
        return view

    return decorate


def audience_of(view: Callable[..., Any] | None) -> frozenset[str] | None:
    return getattr(view, "allowed_audience", None)


def requested_audience() -> frozenset[str]:
    """The audience the view this request asks for declares (empty: none, or no such view)."""
    if not has_request_context() or request.endpoint is None:
        return frozenset()
    return audience_of(current_app.view_functions.get(request.endpoint)) or frozenset()


def enforce_access() -> Any:
    """before_request: apply the view's declared audience; refuse views that declare none."""
    if request.endpoint is None:
        return None  # 404/405: the error handler answers
    view = current_app.view_functions.get(request.endpoint)
    if request.endpoint == "static":
        return None
    audience = audience_of(view)
    if audience is None:
        current_app.logger.error("Route %s declares no audience; refused.", request.endpoint)
        abort(403)
    if PUBLIC in audience:
        return None
    if not current_user.is_authenticated:
        if request.headers.get("HX-Request"):
            abort(401)
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    if SIGNED_IN in audience or current_user.role.value in audience:
        if audience == {Role.ADMIN.value} and not current_user.two_factor_enabled:
            return _enrol_first()
        return None
    abort(403)


def _enrol_first() -> Any:
    """Admins refund money: their pages wait until the admin has a second factor."""
    flash("Admins sign in with a second factor: set up your authenticator app first.", "info")
    back = request.full_path.rstrip("?") if request.method == "GET" else "/"
    return htmx_redirect(url_for("accounts.two_factor", next=back))


def is_safe_next(target: str | None) -> bool:
    """A `next=` target is safe only when it is a path on this site."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_next(target: str | None, default: str) -> str:
    return target if is_safe_next(target) else default


_CSP_NONCE = "portal.csp_nonce"


def csp_nonce() -> str:
    """One nonce per request, shared by the CSP header and the page's script tags (made the
    first time only: each call of a page's three made a token and threw it away)."""
    environ = request.environ
    nonce = environ.get(_CSP_NONCE)
    if nonce is None:
        nonce = environ[_CSP_NONCE] = secrets.token_urlsafe(18)
    return nonce


def content_security_policy(config: Any) -> tuple[str, str]:
    """The page's Content-Security-Policy around its nonce: what comes before and after it."""
    form_targets = " ".join(["'self'", *config["FORM_ACTION_ORIGINS"]])
    before = "default-src 'self'; script-src 'self' 'nonce-"
    after = "'; " + "; ".join(
        [
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            f"form-action {form_targets}",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "object-src 'none'",
        ]
    )
    return before, after


def fixed_security_headers(config: Any) -> list[tuple[str, str]]:
    """The headers every response carries whose values do not change from one to the next."""
    headers = [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]
    if config["SEND_HSTS"]:
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return headers


def security_headers_hook(app: Flask) -> Callable[[Any], Any]:
    """after_request: the security headers, their values built once per process from the
    settings; only the policy's nonce changes per request. No view sets one of these headers,
    so they are added, not replaced (replacing searched the list for each)."""
    before, after = content_security_policy(app.config)
    fixed = fixed_security_headers(app.config)

    def set_security_headers(response: Any) -> Any:
        if response.status_code == 304:
            # A 304 keeps the headers of the page it confirms; a fresh nonce here would no
            # longer match the nonce in that page's script tags.
            return response
        headers = response.headers
        headers.add("Content-Security-Policy", f"{before}{csp_nonce()}{after}")
        headers.extend(fixed)
        if is_signed_in():
            headers.setdefault("Cache-Control", "no-store")
        return response

    return set_security_headers


def is_signed_in() -> bool:
    """Whether someone is signed in on this request. One that brought no cookie and has put
    nothing in its session (signing in does) has nobody to find, so Flask-Login is not asked: it
    would hash the client's address and user agent for its session check, find the session
    empty and no remember cookie."""
    return ("HTTP_COOKIE" in request.environ or bool(session)) and current_user.is_authenticated


def signed_in_user() -> Any:
    """The person signed in on this request, or None; asked as `is_signed_in` asks, so a visitor
    who brought no cookie is never looked up by Flask-Login."""
    return current_user if is_signed_in() else None


def init_security(app: Flask) -> None:
    app.before_request(enforce_access)
    app.after_request(security_headers_hook(app))
    app.jinja_env.globals["csp_nonce"] = csp_nonce
