"""An event whose strings hold a NUL character (JSON's `\\u0000`) is recorded like any other.
PostgreSQL's JSONB cannot hold that character, so on PostgreSQL the event's row could not be
written, nor its failure: every delivery answered 500 and the admins' event log never showed it.
Each NUL becomes U+FFFD where the event is read, before anything is written."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import StripeEvent
from tests.webhooks import payloads
from tests.webhooks.signing import PLATFORM_PATH, platform_secret, signed_post


def test_an_event_with_a_nul_character_in_a_string_is_recorded(app: Flask, client) -> None:
    event = payloads.event(
        "customer.created", {"id": "cus_nul", "object": "customer", "name": "Ann\u0000Lee"}
    )
    response = signed_post(client, PLATFORM_PATH, event, platform_secret(client))
    db.session.expire_all()
    recorded = db.session.execute(sa.select(StripeEvent.stripe_event_id, StripeEvent.payload)).all()
    assert (response.status_code, [row.stripe_event_id for row in recorded]) == (200, [event["id"]])
    assert recorded[0].payload["data"]["object"]["name"] == "Ann\ufffdLee"
