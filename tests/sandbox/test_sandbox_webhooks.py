"""Webhooks: signed, routed by account, retried, pausable, deliverable out of order."""

from __future__ import annotations

import time

import requests
import stripe


def test_signatures_verify_with_the_stripe_library(client, sandbox_tools, receiver, secrets):
    client.v1.customers.create(params={"email": "a@example.com"})
    sandbox_tools.onboard()
    sandbox_tools.flush()
    assert receiver.received
    for delivery in receiver.received:
        secret = secrets[delivery["path"]]
        event = stripe.Webhook.construct_event(delivery["payload"], delivery["signature"], secret)
        assert event.id.startswith("evt_") and event.api_version == stripe.api_version
        assert ("account" in delivery["event"]) == (delivery["path"] == "/connect")


def test_forged_signature_does_not_verify(client, sandbox_tools, receiver):
    client.v1.customers.create(params={"email": "a@example.com"})
    sandbox_tools.flush()
    delivery = receiver.received[0]
    try:
        stripe.Webhook.construct_event(delivery["payload"], delivery["signature"], "whsec_wrong")
    except stripe.SignatureVerificationError:
        return
    raise AssertionError("a wrong secret verified")


def test_failed_delivery_is_retried(client, sandbox, sandbox_tools, receiver):
    receiver.fail_next = 2
    customer = client.v1.customers.create(params={"email": "a@example.com"})
    result = sandbox_tools.flush()
    attempts = [d for d in result["deliveries"] if d["type"] == "customer.created"]
    assert [d["status"] for d in attempts] == [500, 500, 200]
    ok = [r for r in receiver.received if not r["failed"]]
    assert ok[0]["event"]["data"]["object"]["id"] == customer.id
    shown = requests.get(sandbox.url + "/_sandbox/deliveries", timeout=5).json()
    assert len(shown["deliveries"]) == 3


def test_pause_then_deliver_out_of_order_and_twice(client, sandbox_tools, receiver):
    sandbox_tools.control("webhooks/pause")
    client.v1.customers.create(params={"email": "a@example.com"})
    client.v1.customers.create(params={"email": "b@example.com"})
    time.sleep(0.1)
    assert receiver.received == []
    events = client.v1.events.list(params={"type": "customer.created"}).data
    newest, oldest = events[0].id, events[1].id
    sandbox_tools.control("webhooks/deliver", ids=[newest, oldest, newest])
    assert [e["id"] for e in receiver.events()] == [newest, oldest, newest]
    sandbox_tools.control("webhooks/resume")
    sandbox_tools.flush()
    assert len(receiver.received) == 3


def test_redeliver_and_event_filters(client, sandbox_tools, receiver):
    client.v1.customers.create(params={"email": "a@example.com"})
    sandbox_tools.flush()
    event = client.v1.events.list(params={"type": "customer.*"}).data[0]
    assert client.v1.events.retrieve(event.id).type == "customer.created"
    sandbox_tools.control(f"events/{event.id}/redeliver")
    sandbox_tools.flush()
    assert [e["id"] for e in receiver.events()] == [event.id, event.id]
    later = client.v1.events.list(params={"created": {"gte": event.created + 3600}})
    assert later.data == []


def test_chaos_shuffles_and_doubles_deliveries_until_switched_off(client, sandbox_tools, receiver):
    assert sandbox_tools.control("webhooks/chaos", on=True) == {"webhook_chaos": True}
    try:
        customers = [client.v1.customers.create(params={"name": str(n)}).id for n in range(30)]
        sandbox_tools.flush()
        got = [e["data"]["object"]["id"] for e in receiver.events()]
        assert set(got) == set(customers)
        assert got != customers  # 30 events each held up to 0.3 s: never in order by chance
        assert len(got) > len(customers)  # one in three twice: some event came again
        assert all(got.count(c) <= 2 for c in customers)
    finally:
        sandbox_tools.control("webhooks/chaos", on=False)
    receiver.received.clear()
    calm = [client.v1.customers.create(params={"name": str(n)}).id for n in range(10)]
    sandbox_tools.flush()
    assert [e["data"]["object"]["id"] for e in receiver.events()] == calm


def test_chaos_switch_takes_only_true_or_false(sandbox):
    answer = requests.post(
        sandbox.url + "/_sandbox/webhooks/chaos", json={"on": "maybe"}, timeout=5
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "on"
    assert sandbox.sandbox.config.webhook_chaos is False


def test_chaos_can_be_set_from_the_environment():
    from stripe_sandbox import SandboxConfig

    assert SandboxConfig.from_env({"SANDBOX_WEBHOOK_CHAOS": "1"}).webhook_chaos is True
    assert SandboxConfig.from_env({}).webhook_chaos is False
