"""The two doors Stripe knocks on: the platform's events and the connected accounts' events.

Each verifies the signature over the raw body with its own secret (400, a short plain message
and nothing written when that fails), hands the event to the runner and answers quickly: 200
once the event is applied, ignored or a duplicate, 500 when its handler failed (Stripe retries).
No login, no CSRF token (the signature is the authentication), never a redirect.
"""

from __future__ import annotations

from flask import Blueprint, current_app, request

from portal.extensions import csrf
from portal.security import PUBLIC, allow
from portal.stripe_gateway.webhooks import InvalidWebhook, verify_event
from portal.webhooks.runner import apply_event

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)


PlainResponse = tuple[str, int, dict[str, str]]
TEXT = {"Content-Type": "text/plain; charset=utf-8"}


@bp.post("/stripe")
@allow(PUBLIC)
def stripe_platform() -> PlainResponse:
    return _receive("STRIPE_WEBHOOK_SECRET")


@bp.post("/stripe/connect")
@allow(PUBLIC)
def stripe_connect() -> PlainResponse:
    return _receive("STRIPE_CONNECT_WEBHOOK_SECRET")


def _receive(secret_setting: str) -> PlainResponse:
    try:
        event = verify_event(
            request.get_data(cache=False),
            request.headers.get("Stripe-Signature"),
            current_app.config[secret_setting],
        )
    except InvalidWebhook as exc:
        current_app.logger.warning("Refused a webhook on %s: %s", request.path, exc.message)
        return exc.message, 400, TEXT
    outcome = apply_event(event)
    if outcome.failed:
        return "Event failed; it will be retried.", 500, TEXT
    return outcome.status, 200, TEXT
