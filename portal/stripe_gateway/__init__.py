"""The only door to Stripe. Every call the portal makes goes through this package.

- One `StripeClient`, configured from the app: API key, API version (pinned here), network
  retries, and the API base (the offline stand-in when no real key is configured).
- Every POST carries an idempotency key derived from the local record (`idempotency_key`), so a
  double click or a retry creates one Stripe object.
- Stripe objects come back as plain dicts (`to_plain`), and Stripe's exceptions become the
  portal's own errors, whose messages a person can act on. Nothing outside this package imports
  `stripe`.

Functions for each area live in the submodules: `checkout`, `billing`, `connect`, `refunds`...
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import stripe
from flask import current_app

from portal.errors import PortalError

# The Stripe API version the portal is written against. stripe-python fixes the version its typed
# objects are generated for; the portal pins the same one explicitly and shows it to admins.
STRIPE_API_VERSION = "2026-10-28.endive"

logger = logging.getLogger("portal.stripe")
T = TypeVar("T")


class GatewayError(PortalError):
    """Stripe could not do what was asked. `message` is fit to show to the person."""

    def __init__(self, message: str, *, code: str | None = None, request_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.request_id = request_id


class StripeUnavailable(GatewayError):
    """Stripe did not answer (network, outage, rate limit). Nothing was charged."""


class CardDeclined(GatewayError):
    """The card was declined or needs the customer's action."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        decline_code: str | None = None,
        request_id: str | None = None,
    ):
        super().__init__(message, code=code, request_id=request_id)
        self.decline_code = decline_code


class InvalidRequest(GatewayError):
    """Stripe refused the request as written (a bug or stale data on our side)."""


def client() -> stripe.StripeClient:
    """The app's StripeClient, built once per app."""
    cached = current_app.extensions.get("stripe_client")
    if cached is None:
        config = current_app.config
        base = config.get("STRIPE_API_BASE") or None
        cached = stripe.StripeClient(
            config["STRIPE_SECRET_KEY"] or "sk_test_unconfigured",
            stripe_version=STRIPE_API_VERSION,
            max_network_retries=config["STRIPE_MAX_NETWORK_RETRIES"],
            base_addresses={"api": base, "connect": base, "files": base} if base else None,
        )
        current_app.extensions["stripe_client"] = cached
    return cached


def idempotency_key(kind: str, record: Any, *extra: object) -> str:
    """A key naming the local record a POST is about, e.g. `booking-checkout:42:1764072000`.

    The record's creation time is part of the key, so a database that was reset (a demo, a
    restored backup) never reuses a key Stripe remembers for another object.
    """
    created = int(record.created_at.timestamp()) if record.created_at else 0
    return ":".join([kind, str(record.id), str(created), *(str(p) for p in extra)])


def to_plain(obj: Any) -> Any:
    """A Stripe object (or list of them) as plain dicts and lists."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict(recursive=True)
    if isinstance(obj, list):
        return [to_plain(item) for item in obj]
    return obj


def call(operation: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one Stripe call, log its request id, and translate Stripe's errors into ours."""
    try:
        result = func(*args, **kwargs)
    except stripe.CardError as exc:
        logger.info("Stripe %s declined: %s (request %s)", operation, exc.code, exc.request_id)
        raise CardDeclined(
            _decline_message(exc),
            code=exc.code,
            decline_code=getattr(exc, "error", None) and exc.error.decline_code,
            request_id=exc.request_id,
        ) from exc
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
        logger.warning(
            "Stripe %s unavailable: %s (request %s)", operation, type(exc).__name__, exc.request_id
        )
        raise StripeUnavailable(
            "We could not reach our payment provider. Nothing was charged; please try again in "
            "a few minutes.",
            request_id=exc.request_id,
        ) from exc
    except stripe.StripeError as exc:
        logger.error(
            "Stripe %s failed: %s %s (request %s)",
            operation,
            type(exc).__name__,
            exc.code,
            exc.request_id,
        )
        raise InvalidRequest(
            exc.user_message
            or "The payment provider refused the request. Please try again or contact support.",
            code=exc.code,
            request_id=exc.request_id,
        ) from exc
    request_id = getattr(getattr(result, "last_response", None), "request_id", None)
    logger.info("Stripe %s ok (request %s)", operation, request_id)
    return result


_DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds. Try another card.",
    "expired_card": "Your card has expired. Try another card.",
    "incorrect_cvc": "The card's security code is incorrect.",
    "authentication_required": "Your bank asks you to confirm this payment. Continue on the "
    "secure payment page.",
}


def _decline_message(exc: stripe.CardError) -> str:
    decline_code = getattr(getattr(exc, "error", None), "decline_code", None)
    return (
        _DECLINE_MESSAGES.get(decline_code or "")
        or _DECLINE_MESSAGES.get(exc.code or "")
        or exc.user_message
        or "Your card was declined. Try another card."
    )


def ping() -> None:
    """One cheap read, to tell whether Stripe answers with our key. Raises a GatewayError."""
    call("balance.retrieve", client().v1.balance.retrieve, options={"max_network_retries": 0})
