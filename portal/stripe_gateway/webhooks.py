"""Checking that a webhook really comes from Stripe.

`verify_event` checks the `Stripe-Signature` header (scheme `v1`, HMAC-SHA256 over
`"{t}.{raw body}"` with the endpoint's secret, at most 300 seconds old) with stripe-python's own
`Webhook.construct_event`, and hands back the event as a plain dict. Anything wrong with the
header, the signature, its age or the body raises `InvalidWebhook`; nothing is returned that was
not signed.
"""

from __future__ import annotations

import json
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
        event = stripe.Webhook.construct_event(
            payload, header, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        raise InvalidWebhook("Invalid signature.") from exc
    except (ValueError, TypeError, AttributeError) as exc:  # body not a JSON event
        raise InvalidWebhook("Invalid payload.") from exc
    # The verified body itself, as JSON: the library's objects turn `*_decimal` strings into
    # Decimal, which the event log's JSON column cannot hold.
    del event
    plain = json.loads(payload)
    if not isinstance(plain, dict) or not plain.get("id") or not plain.get("type"):
        raise InvalidWebhook("Invalid payload.")
    return plain
