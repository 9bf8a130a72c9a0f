"""Fixtures for the sandbox's tests: a live SandboxServer, a webhook receiver, a Stripe client."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

# The repository root, so `stripe_sandbox` imports under the plain `pytest` command too.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from stripe_sandbox import SandboxConfig  # noqa: E402
from stripe_sandbox.server import SandboxServer  # noqa: E402

PLATFORM_SECRET = "whsec_test_platform"
CONNECT_SECRET = "whsec_test_connect"


@dataclass
class Receiver:
    """A tiny webhook endpoint that records what it gets and can be told to fail."""

    received: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        payload = request.get_data(as_text=True)
        with self.lock:
            failing = self.fail_next > 0
            if failing:
                self.fail_next -= 1
            self.received.append(
                {
                    "path": request.path,
                    "payload": payload,
                    "signature": request.headers.get("Stripe-Signature", ""),
                    "failed": failing,
                    "event": json.loads(payload),
                }
            )
        response = Response("boom" if failing else "ok", status=500 if failing else 200)
        return response(environ, start_response)

    def events(self, path: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r["event"] for r in self.received if path is None or r["path"] == path]

    def types(self, path: str | None = None) -> list[str]:
        return [e["type"] for e in self.events(path)]


@pytest.fixture(scope="session")
def secrets() -> dict[str, str]:
    """The endpoint secret for each receiver path."""
    return {"/platform": PLATFORM_SECRET, "/connect": CONNECT_SECRET}


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    server = make_server("127.0.0.1", 0, rec, threaded=True)
    rec.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def server(receiver: Receiver) -> Iterator[SandboxServer]:
    config = SandboxConfig(
        webhook_url=receiver.url + "/platform",
        connect_webhook_url=receiver.url + "/connect",
        webhook_secret=PLATFORM_SECRET,
        connect_webhook_secret=CONNECT_SECRET,
        available_after=2 * 86400,
        webhook_retry_delay=0.05,
        tick_interval=0,
    )
    with SandboxServer(config) as srv:
        yield srv


@pytest.fixture()
def sandbox(server: SandboxServer, receiver: Receiver) -> Iterator[SandboxServer]:
    """The shared server, reset before each test, with an empty receiver."""
    requests.post(server.url + "/_sandbox/reset", timeout=5)
    with receiver.lock:
        receiver.received.clear()
        receiver.fail_next = 0
    yield server


@pytest.fixture()
def client(sandbox: SandboxServer) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_sandbox",
        base_addresses={"api": sandbox.url, "connect": sandbox.url, "files": sandbox.url},
        max_network_retries=0,
    )


@pytest.fixture()
def http(sandbox: SandboxServer) -> Iterator[requests.Session]:
    """A browser stand-in for the hosted pages (follows no redirects by itself)."""
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


@pytest.fixture()
def sandbox_tools(sandbox: SandboxServer, client: stripe.StripeClient, http: requests.Session):
    """The helpers below, bound to this test's server, client and browser."""

    class Tools:
        def control(self, path: str, **body: Any) -> dict[str, Any]:
            return control(sandbox, path, **body)

        def flush(self) -> dict[str, Any]:
            return flush(sandbox)

        def pay(self, url: str, number: str = "4242424242424242", **extra: str):
            return pay(http, url, number, **extra)

        def onboard(
            self,
            account_number: str = "000123456789",
            finish: bool = True,
            schedule: dict[str, Any] | None = None,
            debit_card: str = "",
        ) -> str:
            return onboard(client, http, account_number, finish, schedule, debit_card)

    return Tools()


def control(server: SandboxServer, path: str, **body: Any) -> dict[str, Any]:
    response = requests.post(server.url + "/_sandbox/" + path, json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def flush(server: SandboxServer) -> dict[str, Any]:
    """Wait until every queued delivery is answered; a slow, loaded machine gets a minute."""
    result = control(server, "webhooks/flush", timeout=60)
    assert result["drained"] or server.sandbox.webhooks.paused, "deliveries still queued"
    return result


def pay(
    http: requests.Session, url: str, number: str = "4242424242424242", **extra: str
) -> requests.Response:
    """Submit the hosted Checkout page like a person would."""
    form = {"number": number, "expiry": "12/34", "cvc": "123", "name": "Ada Lovelace", **extra}
    return http.post(url, data=form, allow_redirects=False, timeout=10)


def onboard(
    client: stripe.StripeClient,
    http: requests.Session,
    account_number: str = "000123456789",
    finish: bool = True,
    schedule: dict[str, Any] | None = None,
    debit_card: str = "",
) -> str:
    """Create an Express account and walk the hosted onboarding; returns the account id.

    The account pays out manually unless `schedule` says otherwise, as the portal's accounts do.
    """
    account = client.v1.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "email": "coach@example.com",
            "capabilities": {
                "card_payments": {"requested": True},
                "transfers": {"requested": True},
            },
            "settings": {"payouts": {"schedule": schedule or {"interval": "manual"}}},
        }
    )
    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "http://portal.test/refresh",
            "return_url": "http://portal.test/return",
        }
    )
    start = http.get(link.url, allow_redirects=False, timeout=10)
    assert start.status_code == 303
    personal = start.headers["Location"]
    base = link.url.split("/connect/")[0]
    step = http.post(
        base + personal,
        data={
            "first_name": "Grace",
            "last_name": "Hopper",
            "dob": "1980-01-02",
            "tos": "1",
            **({} if finish else {"later": "1"}),
        },
        allow_redirects=False,
        timeout=10,
    )
    assert step.status_code == 303
    if not finish:
        assert step.headers["Location"] == "http://portal.test/return"
        return account.id
    bank = http.post(
        base + step.headers["Location"],
        data={
            "routing_number": "110000000",
            "account_number": account_number,
            "debit_card": debit_card,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert bank.status_code == 303
    assert bank.headers["Location"] == "http://portal.test/return"
    return account.id
