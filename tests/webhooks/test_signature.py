"""RELIABILITY 1: only a valid, fresh `v1` signature over the raw body gets a webhook in."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import StripeEvent
from tests.webhooks import payloads
from tests.webhooks.signing import (
    CONNECT_PATH,
    PLATFORM_PATH,
    connect_secret,
    platform_secret,
    post_raw,
    serialise,
    signature_header,
    signed_post,
)


def unknown_event() -> dict:
    return payloads.event("customer.created", {"id": "cus_123", "object": "customer"})


def stored_events() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(StripeEvent)) or 0


@pytest.mark.parametrize("path", [PLATFORM_PATH, CONNECT_PATH])
def test_a_validly_signed_event_is_accepted_without_login(client, path):
    secret = platform_secret(client) if path == PLATFORM_PATH else connect_secret(client)
    response = signed_post(client, path, unknown_event(), secret)
    assert response.status_code == 200
    assert response.headers.get("Location") is None
    assert stored_events() == 1


def test_each_endpoint_takes_only_its_own_secret(client):
    response = signed_post(client, CONNECT_PATH, unknown_event(), platform_secret(client))
    assert response.status_code == 400
    assert stored_events() == 0


def _refused(client, payload: bytes, header: str | None) -> None:
    response = post_raw(client, PLATFORM_PATH, payload, header)
    assert response.status_code == 400, response.text
    assert response.headers.get("Location") is None
    assert response.mimetype == "text/plain"
    assert len(response.text) < 100
    assert stored_events() == 0


def test_a_wrong_secret_is_refused(client):
    payload = serialise(unknown_event())
    _refused(client, payload, signature_header(payload, "whsec_not_ours"))


def test_a_reserialised_body_is_refused(client):
    payload = serialise(unknown_event())
    header = signature_header(payload, platform_secret(client))
    compact = json.dumps(json.loads(payload), separators=(",", ":")).encode()
    _refused(client, compact, header)


def test_an_unparseable_timestamp_is_refused(client):
    payload = serialise(unknown_event())
    good = signature_header(payload, platform_secret(client))
    _refused(client, payload, "t=invalid," + good.split(",", 1)[1])


def test_a_v0_only_signature_is_refused(client):
    payload = serialise(unknown_event())
    good = signature_header(payload, platform_secret(client))
    _refused(client, payload, good.replace("v1=", "v0="))


def test_a_signature_301_seconds_old_is_refused(client):
    payload = serialise(unknown_event())
    stale = int(time.time()) - 301
    _refused(client, payload, signature_header(payload, platform_secret(client), stale))


def test_a_signature_299_seconds_old_is_accepted(client):
    event = unknown_event()
    response = signed_post(
        client, PLATFORM_PATH, event, platform_secret(client), int(time.time()) - 299
    )
    assert response.status_code == 200


def test_a_missing_signature_header_is_refused(client):
    _refused(client, serialise(unknown_event()), None)


def test_a_signed_body_that_is_not_an_event_is_refused(client):
    for payload in (b"not json", b"[1, 2]", b'{"object": "event"}', b"\xff\xfe{}"):
        _refused(client, payload, signature_header(payload, platform_secret(client)))


def test_a_get_on_the_webhook_is_not_allowed(client):
    assert client.get(PLATFORM_PATH).status_code == 405
