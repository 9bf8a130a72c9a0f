"""One place decides whether a request gets a whole page or an HTMX fragment."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template, request
from flask_wtf import FlaskForm


def is_htmx() -> bool:
    # Boosted requests want the whole page; a history restore wants it too.
    htmx = request.htmx  # type: ignore[attr-defined]
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(page: str, fragment: str | None = None, status: int = 200, **context: Any) -> Response:
    """Render `page`, or `fragment` for an HTMX request; the answer varies on HX-Request."""
    template = fragment if fragment and is_htmx() else page
    response = make_response(render_template(template, **context), status)
    if fragment:
        response.vary.add("HX-Request")
    return response


def htmx_redirect(location: str) -> Response:
    """After a successful POST: a 303 for a plain form, HX-Redirect for HTMX."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = location
        return response
    response = make_response("", 303)
    response.headers["Location"] = location
    return response


def render_form(
    form: FlaskForm, page: str, fragment: str | None = None, **context: Any
) -> Response:
    """Render the page (or fragment) of `form`: 400 when the form was sent and refused, so the
    answer says it failed, 200 otherwise."""
    return render(page, fragment, 400 if form.errors else 200, form=form, **context)
