"""A signed body that no Stripe event could be is refused like one that is not an event at all,
and so is an odd signature header (NUL characters, a time of thousands of digits, the header
twice): 400, a short plain message, nothing written. JSON's own oddities (NaN and Infinity,
which JSON does not have; nesting deeper than Python parses; an id or a type that is not a
string) failed after the signature had passed, answering 500 for Stripe to retry forever; on
PostgreSQL not even the failure could be written down."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers

from tests.webhooks import payloads
from tests.webhooks.signing import (
    CONNECT_PATH,
    PLATFORM_PATH,
    connect_secret,
    platform_secret,
    serialise,
    signature_header,
)
from tests.webhooks.test_signature import _refused, stored_events

DEEP = 100_000
ODD_BODIES = {
    "a numeric id": b'{"id": 5, "type": "customer.created"}',
    "a list for a type": b'{"id": "evt_odd", "type": ["customer.created"]}',
    "an empty type": b'{"id": "evt_odd", "type": ""}',
    "NaN in the data": b'{"id": "evt_odd", "type": "customer.created", "data": {"a": NaN}}',
    "Infinity as the id": b'{"id": Infinity, "type": "customer.created"}',
    "a number too large for a float": b'{"id": "evt_odd", "type": "customer.created", '
    b'"data": {"a": 1e999}}',
    "nesting too deep": b'{"id": "evt_odd", "type": "customer.created", "data": '
    + b"[" * DEEP
    + b"]" * DEEP
    + b"}",
}


@pytest.mark.parametrize("payload", ODD_BODIES.values(), ids=ODD_BODIES.keys())
def test_a_signed_body_no_stripe_event_could_be_is_refused(client, payload):
    _refused(client, payload, signature_header(payload, platform_secret(client)))


ODD_HEADERS = {
    "NUL characters": ["t=\x00,v1=\x00"],
    "a 5000-digit time": ["t=" + "9" * 5000 + ",v1=" + "a" * 64],
    "the header twice, neither good": ["t=1,v1=aa", "t=2,v1=bb"],
    "a good signature on another body": None,  # filled in per test
}


@pytest.mark.parametrize("path", [PLATFORM_PATH, CONNECT_PATH])
@pytest.mark.parametrize("odd", ODD_HEADERS, ids=ODD_HEADERS.keys())
def test_an_odd_signature_header_is_refused_and_writes_nothing(client, path, odd):
    payload = serialise(payloads.event("customer.created", {"id": "cus_1", "object": "customer"}))
    secret = platform_secret(client) if path == PLATFORM_PATH else connect_secret(client)
    values = ODD_HEADERS[odd] or [signature_header(b"{}", secret)]
    response = client.post(
        path,
        data=payload,
        headers=Headers([("Stripe-Signature", value) for value in values]),
        content_type="application/json",
    )
    assert response.status_code == 400, response.text
    assert response.mimetype == "text/plain" and len(response.text) < 100
    assert stored_events() == 0
