"""Signing webhook payloads as Stripe does, for tests that post to the real endpoints.

`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed by the secret>`
(Stripe's webhook guide). `signed_post` serialises the event once and signs exactly those bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PLATFORM_PATH = "/webhooks/stripe"
CONNECT_PATH = "/webhooks/stripe/connect"


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def serialise(event: dict[str, Any]) -> bytes:
    return json.dumps(event, indent=2).encode()


def signed_post(
    client: FlaskClient,
    path: str,
    event: dict[str, Any],
    secret: str,
    timestamp: int | None = None,
) -> TestResponse:
    """POST `event` to `path` as Stripe would, signed with `secret` at `timestamp` (now)."""
    payload = serialise(event)
    return post_raw(client, path, payload, signature_header(payload, secret, timestamp))


def post_raw(client: FlaskClient, path: str, payload: bytes, header: str | None) -> TestResponse:
    headers = {"Stripe-Signature": header} if header is not None else {}
    return client.post(path, data=payload, headers=headers, content_type="application/json")


def platform_secret(client: FlaskClient) -> str:
    return client.application.config["STRIPE_WEBHOOK_SECRET"]


def connect_secret(client: FlaskClient) -> str:
    return client.application.config["STRIPE_CONNECT_WEBHOOK_SECRET"]
