"""A stand-in with a state file remembers everything across a restart; reset and --fresh forget."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import stripe

from stripe_sandbox import SandboxConfig
from stripe_sandbox.server import SandboxServer
from tests.sandbox.conftest import Receiver, onboard, pay


@contextmanager
def stand_in(state_file: Path, **settings) -> Iterator[tuple[SandboxServer, stripe.StripeClient]]:
    config = SandboxConfig(state_file=str(state_file), tick_interval=0, **settings)
    with SandboxServer(config) as server:
        client = stripe.StripeClient(
            "sk_test_sandbox",
            base_addresses={"api": server.url, "connect": server.url, "files": server.url},
            max_network_retries=0,
        )
        yield server, client


def _browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def _destination_payment(client: stripe.StripeClient, coach: str) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={
            "amount": 10000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "application_fee_amount": 2000,
            "transfer_data": {"destination": coach},
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
    )


def test_an_account_and_a_payment_outlive_a_restart(tmp_path):
    state = tmp_path / "sandbox.sqlite3"
    with stand_in(state) as (server, client):
        coach = onboard(client, _browser())
        first = _destination_payment(client, coach)
        requests.post(server.url + "/_sandbox/clock/advance", json={"seconds": 3600}, timeout=5)
        offset = requests.get(server.url + "/_sandbox/clock", timeout=5).json()["offset"]
    assert state.exists()

    with stand_in(state) as (server, client):
        assert client.v1.accounts.retrieve(coach).charges_enabled is True
        assert client.v1.payment_intents.retrieve(first.id).status == "succeeded"
        second = _destination_payment(client, coach)  # not "No such destination"
        assert second.status == "succeeded"
        charges = client.v1.charges.list(options={"stripe_account": coach}).data
        assert len(charges) == 2
        assert requests.get(server.url + "/_sandbox/clock", timeout=5).json()["offset"] == offset
        ids = [e.id for e in client.v1.events.list(params={"limit": 100}).data]
        assert len(ids) == len(set(ids))


def test_reset_forgets_the_saved_state_too(tmp_path):
    state = tmp_path / "sandbox.sqlite3"
    with stand_in(state) as (server, client):
        customer = client.v1.customers.create(params={"email": "m@example.com"})
        requests.post(server.url + "/_sandbox/reset", timeout=5)
    with stand_in(state) as (_, client):
        assert client.v1.customers.list().data == []
        try:
            client.v1.customers.retrieve(customer.id)
        except stripe.InvalidRequestError as exc:
            assert exc.code == "resource_missing"
        else:
            raise AssertionError("a reset customer came back")


def test_fresh_starts_empty_and_replaces_the_saved_state(tmp_path):
    state = tmp_path / "sandbox.sqlite3"
    with stand_in(state) as (_, client):
        client.v1.customers.create(params={"email": "m@example.com"})
    with stand_in(state, fresh=True) as (_, client):
        assert client.v1.customers.list().data == []
    with stand_in(state) as (_, client):
        assert client.v1.customers.list().data == []


def test_events_still_on_their_way_are_delivered_after_the_restart(tmp_path, receiver: Receiver):
    state = tmp_path / "sandbox.sqlite3"
    with receiver.lock:
        receiver.received.clear()
    hooks = {"webhook_url": receiver.url + "/platform", "webhook_retry_delay": 0.05}
    with stand_in(state, **hooks) as (server, client):
        requests.post(server.url + "/_sandbox/webhooks/pause", timeout=5)
        customer = client.v1.customers.create(params={"email": "m@example.com"})
    assert receiver.events() == []
    with stand_in(state, **hooks) as (server, client):
        requests.post(server.url + "/_sandbox/webhooks/flush", json={"timeout": 10}, timeout=15)
        assert [e["data"]["object"]["id"] for e in receiver.events()] == [customer.id]
        event = client.v1.events.list().data[0]
        assert event.pending_webhooks == 0


def test_the_file_holds_no_card_number(tmp_path):
    state = tmp_path / "sandbox.sqlite3"
    with stand_in(state) as (_, client):
        session = client.v1.checkout.sessions.create(
            params={
                "mode": "setup",
                "currency": "usd",
                "customer": client.v1.customers.create(params={"email": "m@example.com"}).id,
                "success_url": "http://p.test",
            }
        )
        pay(_browser(), session.url, "4000000000000341")
    with sqlite3.connect(state) as connection:
        [saved] = connection.execute("SELECT state FROM sandbox_state").fetchone()
    assert "0341" in saved  # the card's last four are kept, as Stripe shows them
    assert "4000000000000341" not in saved


def test_without_a_state_file_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SandboxServer(SandboxConfig(tick_interval=0)) as server:
        requests.post(server.url + "/_sandbox/clock/advance", json={"seconds": 1}, timeout=5)
    assert list(tmp_path.iterdir()) == []
