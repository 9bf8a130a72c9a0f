"""Checking that a webhook really comes from Stripe.

`verify_event` checks the `Stripe-Signature` header (scheme `v1`, HMAC-SHA256 over
`"{t}.{raw body}"` with the endpoint's secret, at most 300 seconds old) with stripe-python's own
`WebhookSignature.verify_header`, then parses the verified body once, with `json.loads`, into a
plain dict (not `Webhook.construct_event`: its object tree would be thrown away, and it turns
`*_decimal` strings into Decimal, which the event log's JSON column cannot hold). Anything wrong
with the header, the signature, its age or the body raises `InvalidWebhook`; nothing is returned
that was not signed.
"""

from __future__ import annotations

import json
import math
from typing import Any

import stripe

from portal.stripe_gateway import GatewayError

SIGNATURE_TOLERANCE_SECONDS = 300


class InvalidWebhook(GatewayError):
    """The request is not a verifiable Stripe event; answer 400 and write nothing."""


def verify_event(payload: bytes, header: str | None, secret: str) -> dict[str, Any]:
    """The event in `payload` when `header` signs it with `secret`; else `InvalidWebhook`."""
    if not secret:
        raise InvalidWebhook("Webhook secret not configured.")
    if not header:
        raise InvalidWebhook("Missing Stripe-Signature header.")
    try:
        stripe.WebhookSignature.verify_header(
            payload, header, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        raise InvalidWebhook("Invalid signature.") from exc
    except ValueError as exc:  # not UTF-8
        raise InvalidWebhook("Invalid payload.") from exc
    try:
        event = json.loads(payload, parse_constant=_refuse_constant, parse_float=_finite)
    except (ValueError, RecursionError) as exc:  # not JSON, NaN or Infinity, nested too deep
        raise InvalidWebhook("Invalid payload.") from exc
    if not isinstance(event, dict) or not _is_name(event.get("id"), event.get("type")):
        raise InvalidWebhook("Invalid payload.")
    if b"\\u0000" in payload:  # JSON writes a NUL character only as this escape
        try:
            event = _without_nul(event)
        except RecursionError as exc:  # nested nearly as deep as Python parses
            raise InvalidWebhook("Invalid payload.") from exc
    return event


def _without_nul(value: Any) -> Any:
    """`value` with each NUL character in its strings replaced by U+FFFD: PostgreSQL's text and
    JSONB refuse NUL, so an event carrying one could be neither recorded nor applied."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def _finite(text: str) -> float:
    """A JSON number too large for a float (1e999) would be stored as Infinity, which JSON has
    not and PostgreSQL's JSONB refuses."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


def _refuse_constant(name: str) -> object:
    """JSON has no NaN or Infinity, and Stripe never sends them: no column can store them."""
    raise ValueError(f"{name} is not JSON")


def _is_name(*values: object) -> bool:
    """Whether each value is a non-empty string, as an event's id and type always are."""
    return all(isinstance(value, str) and value for value in values)
