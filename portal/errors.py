"""Error pages in the portal's look, and plain answers for HTMX and webhook callers."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.parsing import BadRequestInput

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Check the form and try again."),
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

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[str, int]:
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        return render_error(InternalServerError.code)
