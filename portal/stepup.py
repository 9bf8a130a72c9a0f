"""Step-up: money and account actions ask for the password (and the code) again after a while.

A view marked `@requires_confirmation` runs only when the person confirmed who they are (their
password, and their code where they have two-factor sign-in) within the last ten minutes;
signing in counts as a confirmation. Otherwise nothing of the action runs: the person is sent
to the confirm page, and from there back to the page they were on, to do it again. An HTMX
request gets `HX-Redirect`, so the whole page becomes the confirm form, never a half-done swap.

The time of the last confirmation is kept in the signed session cookie, so it ends with the
sign-in session; turning two-factor sign-in on forgets it, since it vouched for a password alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import flash, request, session, url_for

from portal.accounts import twofactor
from portal.rendering import htmx_redirect, is_htmx
from portal.security import is_safe_next

CONFIRMATION_LASTS = timedelta(minutes=10)
_KEY = "confirmed_at"
F = TypeVar("F", bound=Callable[..., Any])


def mark_confirmed() -> None:
    session[_KEY] = twofactor.now().timestamp()


def forget_confirmation() -> None:
    session.pop(_KEY, None)


def confirmed_recently() -> bool:
    confirmed_at = session.get(_KEY)
    if not isinstance(confirmed_at, int | float):
        return False
    age = twofactor.now().timestamp() - confirmed_at
    return 0 <= age < CONFIRMATION_LASTS.total_seconds()


def requires_confirmation(view: F) -> F:
    """Run `view` only after a recent confirmation; else send the person to confirm first."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if confirmed_recently():
            return view(*args, **kwargs)
        flash("Confirm it is you to continue: this has not been done yet.", "info")
        return htmx_redirect(url_for("accounts.confirm", next=_page_to_return_to()))

    return guarded  # type: ignore[return-value]


def _page_to_return_to() -> str:
    """The page the person was on: a GET is that page; a form came from the page it was on."""
    if request.method == "GET" and not is_htmx():
        return request.full_path.rstrip("?")
    came_from = request.headers.get("HX-Current-URL") or request.referrer or ""
    parts = urlsplit(came_from)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if parts.netloc == request.host and is_safe_next(path):
        return path
    return "/"
