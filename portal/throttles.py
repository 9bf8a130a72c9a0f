"""Which requests the rate limiter looks at: those whose route declares a limit.

Every throttle of the portal is declared on its view (`@limiter.limit`) and checked by
Flask-Limiter when that view is called. The limiter's own check before every request applies
only the limits that cover routes wholesale (default, application, meta and blueprint limits);
the portal sets none, yet the library worked that out again on every request, the largest of
the request hooks every page pays. A request filter (Flask-Limiter's `request_filter`) tells it
which routes can be limited by nothing, from the limiter's own record of each view's limits,
taken once per process when the routes are registered. A route that declares a limit is looked
at exactly as before, and with any limit that covers every route, no route is passed over.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter.constants import ConfigVars
from flask_limiter.util import get_qualified_name

from portal.extensions import limiter

_UNLIMITED = "portal.unlimited_endpoints"


def unlimited_endpoints(app: Flask) -> frozenset[str]:
    """The endpoints no limit of the limiter's applies to (none, when a limit covers all)."""
    manager = limiter.limit_manager
    with app.app_context():  # a limit given as a function reads the settings
        if (
            manager.default_limits
            or manager.application_limits
            or app.config.get(ConfigVars.META_LIMITS)
        ):
            return frozenset()
        return frozenset(
            endpoint
            for endpoint, view in app.view_functions.items()
            if not manager.decorated_limits(get_qualified_name(view))
            and not manager.blueprint_limits(app, endpoint.rpartition(".")[0])
        )


@limiter.request_filter
def _limits_nothing() -> bool:
    """True when the route of this request can be limited by nothing (an app whose routes were
    not looked at yet passes nothing over).

    Flask-Limiter asks its filters also when a limit is checked within a route (a `with
    limiter.limit(...)` block, or a limited function the view calls): it records such a limit
    as a hint for the route's endpoint before it checks, and a route with one is looked at."""
    return request.endpoint in current_app.extensions.get(_UNLIMITED, ()) and not (
        limiter.limit_manager.has_hints(request.endpoint)
    )


def init_throttles(app: Flask) -> None:
    """Call once the blueprints are registered: their views' limits are declared then."""
    app.extensions[_UNLIMITED] = unlimited_endpoints(app)
