"""The portal's one error path: `PortalError` for what a person can act on, and the pages.

A service raises a `PortalError` (or one of its kinds: `BookingError`, `GatewayError`, ...)
whose `message` tells the person what went wrong and what to do. The view does not catch it:
the app-level handler rolls the request's work back, shows the message and answers. A view that
knows where the person should land says so first with `on_error_go_to(url)`; the answer is then
a 303 there (HX-Redirect for HTMX) with the message flashed. Otherwise the message is shown as a
page, or as a fragment for HTMX.

An error raised after the service has already put things right (a held slot released when
Stripe could not start Checkout) says `keeps_changes=True`: that repair is committed, since the
view commits nothing else before it.
"""

from __future__ import annotations

from flask import Flask, flash, g, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response


class PortalError(Exception):
    """Something asked of the portal that cannot be done; `message` is for the person."""

    def __init__(self, message: str, *, keeps_changes: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.keeps_changes = keeps_changes


class BadRequestInput(PortalError, ValueError):
    """Input that cannot be used as it is; `message` says what was wrong and what to do.
    Answered as a 400 page (or fragment), never a redirect: nothing was done. `portal.parsing`
    raises it for every number and text it refuses."""


class EmailNotVerified(PortalError):
    """Booking and payouts wait for the person to confirm their address."""

    def __init__(self) -> None:
        super().__init__(
            "Confirm your email address first: open the link we mailed you, or send a new one "
            "from your profile."
        )


def on_error_go_to(location: str) -> None:
    """Where a `PortalError` raised later in this request sends the person, message flashed."""
    g.portal_error_location = location


MESSAGES = {
    400: ("Bad request", "The request could not be understood. Check the form and try again."),
    409: ("That could not be done", "Nothing was changed. Reload the page and try again."),
    401: ("Please sign in", "Your session has ended. Sign in again to continue."),
    403: ("Not allowed", "Your account does not have access to this page."),
    404: ("Not found", "There is nothing here. The link may be old, or the page was removed."),
    405: ("Method not allowed", "This address does not accept that kind of request."),
    413: ("Too large", "What you sent is larger than the portal accepts."),
    429: ("Too many attempts", "You have tried too often. Wait a minute, then try again."),
    500: (
        "Something went wrong",
        "We could not finish that. Nothing was charged twice; try again in a moment.",
    ),
}


def render_error(code: int, detail: str | None = None) -> tuple[str, int]:
    title, message = MESSAGES.get(code, MESSAGES[500])
    if request.path.startswith("/webhooks/"):
        return f"{title}: {detail or message}", code
    template = "errors/_error.html" if request.headers.get("HX-Request") else "errors/error.html"
    return render_template(template, code=code, title=title, message=detail or message), code


def init_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> tuple[str, int]:
        return render_error(
            400,
            "This form has expired or was not sent from the portal. Reload the page and try again.",
        )

    @app.errorhandler(BadRequestInput)
    def bad_input(error: BadRequestInput) -> tuple[str, int]:
        from portal.extensions import db

        db.session.rollback()
        return render_error(400, error.message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int] | HTTPException:
        if error.code is None or error.code < 400:
            return error
        # A view that aborts with its own words (abort(404, "...")) is shown them.
        custom = error.description != type(error).description
        detail = error.description if custom else None
        return render_error(error.code, detail)

    @app.errorhandler(PortalError)
    def portal_error(error: PortalError) -> Response | tuple[str, int]:
        from portal.extensions import db
        from portal.rendering import htmx_redirect

        if error.keeps_changes:
            db.session.commit()
        else:
            db.session.rollback()
        location = g.get("portal_error_location")
        if location is None:
            return render_error(409, error.message)
        flash(error.message, "error")
        return htmx_redirect(location)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[str, int]:
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return render_error(InternalServerError.code)
