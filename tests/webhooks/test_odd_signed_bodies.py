"""A signed body that no Stripe event could be is refused like one that is not an event at all:
400, a short plain message, nothing written. JSON's own oddities (NaN and Infinity, which JSON
does not have; nesting deeper than Python parses; an id or a type that is not a string) failed
after the signature had passed, answering 500 for Stripe to retry forever; on PostgreSQL not even
the failure could be written down."""

from __future__ import annotations

import pytest

from tests.webhooks.signing import platform_secret, signature_header
from tests.webhooks.test_signature import _refused

DEEP = 100_000
ODD_BODIES = {
    "a numeric id": b'{"id": 5, "type": "customer.created"}',
    "a list for a type": b'{"id": "evt_odd", "type": ["customer.created"]}',
    "an empty type": b'{"id": "evt_odd", "type": ""}',
    "NaN in the data": b'{"id": "evt_odd", "type": "customer.created", "data": {"a": NaN}}',
    "Infinity as the id": b'{"id": Infinity, "type": "customer.created"}',
    "nesting too deep": b'{"id": "evt_odd", "type": "customer.created", "data": '
    + b"[" * DEEP
    + b"]" * DEEP
    + b"}",
}


@pytest.mark.parametrize("payload", ODD_BODIES.values(), ids=ODD_BODIES.keys())
def test_a_signed_body_no_stripe_event_could_be_is_refused(client, payload):
    _refused(client, payload, signature_header(payload, platform_secret(client)))
