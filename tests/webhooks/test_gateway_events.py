"""The gateway's event functions against the offline Stripe stand-in: paging and verification."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import stripe

from portal.stripe_gateway import StripeUnavailable
from portal.stripe_gateway import event_log as gateway_events
from portal.stripe_gateway.webhooks import InvalidWebhook, verify_event
from stripe_sandbox import SandboxConfig
from stripe_sandbox.server import SandboxServer
from stripe_sandbox.webhooks import sign
from tests.conftest import make_app


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(tick_interval=0)) as server:
        yield server


def test_list_events_pages_through_every_event_newest_first(
    migrated_database, sandbox, monkeypatch
):
    stripe_client = stripe.StripeClient(
        "sk_test_sandbox", base_addresses={"api": sandbox.url}, max_network_retries=0
    )
    made = [
        stripe_client.v1.customers.create(params={"email": f"c{n}@example.com"}) for n in range(5)
    ]
    monkeypatch.setattr(gateway_events, "PAGE_SIZE", 2)
    app = make_app(migrated_database, STRIPE_API_BASE=sandbox.url, STRIPE_SECRET_KEY="sk_test_x")
    with app.app_context():
        events = list(gateway_events.list_events(0))
    created = [e for e in events if e["type"] == "customer.created"]
    assert [e["data"]["object"]["id"] for e in created][:5] == [c.id for c in reversed(made)]
    assert len({e["id"] for e in events}) == len(events)


def test_list_events_reports_an_unreachable_stripe(migrated_database):
    app = make_app(
        migrated_database, STRIPE_API_BASE="http://127.0.0.1:9", STRIPE_SECRET_KEY="sk_test_x"
    )
    with app.app_context(), pytest.raises(StripeUnavailable):
        list(gateway_events.list_events(0))


def test_verify_event_accepts_what_the_stand_in_signs_and_nothing_else():
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "payout.paid", "data": {}})
    header = sign(payload, "whsec_x")
    assert verify_event(payload.encode(), header, "whsec_x")["type"] == "payout.paid"
    for body, head, secret in [
        (payload + " ", header, "whsec_x"),
        (payload, header, "whsec_y"),
        (payload, None, "whsec_x"),
        (payload, header, ""),
    ]:
        with pytest.raises(InvalidWebhook):
            verify_event(body.encode(), head, secret)
