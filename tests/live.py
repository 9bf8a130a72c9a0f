"""A live portal and a live Stripe sandbox, talking to each other over loopback.

Use from a test module with `from tests.live import live_portal, live_sandbox  # noqa: F401`
(or from a conftest). What the fixtures promise:

- `live_sandbox` (one per test session, reset before each test): a `SandboxServer` on a free
  loopback port with its clock ticker off (tests move time with `.advance(seconds)`), fast
  webhook retries, and `.control(path, **body)`, `.flush()`, `.client()` (a StripeClient at it).
- `live_portal` (per test, after the `app` fixture so tables are emptied afterwards): the portal
  served by werkzeug's threaded `make_server` on a free loopback port, pointed at the sandbox
  (`STRIPE_API_BASE`, an `sk_test_` key, the sandbox's webhook secrets). The sandbox's platform
  and Connect webhooks are configured to `POST <portal>/webhooks/stripe` and
  `/webhooks/stripe/connect`. `.url`, `.app`, `.browser()` (a fresh requests session, no
  redirects followed unless asked), `.login(browser, user)`, `.csrf(browser, path)`.
- `onboard_coach(live_sandbox, coach)` walks a coach through the sandbox's hosted Express
  onboarding and records the connected account in the portal as `account.updated` would.

With `SANDBOX_WEBHOOK_CHAOS=1` in the environment, the sandbox delivers every event after a
random wait and one in three twice (scripts/test.sh runs the end-to-end tests once that way):
the portal must end up right whatever order Stripe's events come in.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import stripe
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from portal.extensions import db
from portal.models import StripeConnectedAccount, User
from stripe_sandbox import SandboxConfig
from stripe_sandbox.server import SandboxServer
from tests.conftest import PASSWORD, current_code, make_app

PLATFORM_SECRET = "whsec_live_platform"
CONNECT_SECRET = "whsec_live_connect"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class LiveSandbox:
    server: SandboxServer

    @property
    def url(self) -> str:
        return self.server.url

    def control(self, path: str, **body: Any) -> dict[str, Any]:
        response = requests.post(f"{self.url}/_sandbox/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def flush(self) -> dict[str, Any]:
        """Deliver every queued webhook now and wait for the answers (a minute at most, for a
        loaded machine); fails if some are still queued while deliveries run."""
        result = self.control("webhooks/flush", timeout=60)
        assert result["drained"] or self.server.sandbox.webhooks.paused, "deliveries still queued"
        return result

    def advance(self, seconds: int) -> None:
        self.control("clock/advance", seconds=seconds)

    def client(self) -> stripe.StripeClient:
        base = self.url
        return stripe.StripeClient(
            "sk_test_live",
            base_addresses={"api": base, "connect": base, "files": base},
            max_network_retries=0,
        )


@dataclass
class LivePortal:
    app: Flask
    url: str

    def browser(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        return session

    def csrf(self, browser: requests.Session, path: str) -> str:
        page = browser.get(self.url + path, timeout=10)
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def login(self, browser: requests.Session, user: User, password: str = PASSWORD) -> None:
        token = self.csrf(browser, "/account/login")
        response = browser.post(
            self.url + "/account/login",
            data={"email": user.email, "password": password, "csrf_token": token},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 303, response.text
        if response.headers["Location"] == "/account/login/code":
            token = self.csrf(browser, "/account/login/code")
            response = browser.post(
                self.url + "/account/login/code",
                data={"code": current_code(user), "csrf_token": token},
                allow_redirects=False,
                timeout=10,
            )
            assert response.status_code == 303, response.text

    def post(self, browser: requests.Session, path: str, page: str, **data: str) -> Any:
        """Submit a form found on `page` (its CSRF token) to `path`, without following."""
        token = self.csrf(browser, page)
        return browser.post(
            self.url + path, data={"csrf_token": token, **data}, allow_redirects=False, timeout=30
        )


_server: SandboxServer | None = None
_server_lock = threading.Lock()


def _sandbox_server() -> SandboxServer:
    """One sandbox for the whole test run, started on first use and stopped at exit."""
    global _server
    with _server_lock:
        if _server is None:
            config = SandboxConfig(
                webhook_secret=PLATFORM_SECRET,
                connect_webhook_secret=CONNECT_SECRET,
                webhook_retry_delay=0.05,
                tick_interval=0,
                webhook_chaos=os.environ.get("SANDBOX_WEBHOOK_CHAOS") == "1",
            )
            _server = SandboxServer(config).start()
            atexit.register(_server.stop)
        return _server


@pytest.fixture
def live_sandbox() -> LiveSandbox:
    sandbox = LiveSandbox(_sandbox_server())
    sandbox.control("reset")
    return sandbox


@pytest.fixture
def live_portal(
    app: Flask, migrated_database: str, live_sandbox: LiveSandbox
) -> Iterator[LivePortal]:
    portal_app = make_app(
        migrated_database,
        STRIPE_API_BASE=live_sandbox.url,
        STRIPE_SECRET_KEY="sk_test_live",
        STRIPE_WEBHOOK_SECRET=PLATFORM_SECRET,
        STRIPE_CONNECT_WEBHOOK_SECRET=CONNECT_SECRET,
        STRIPE_SANDBOX_PUBLIC_URL=live_sandbox.url,
        SIGNUP_RATE_LIMIT="100 per minute",  # the journeys sign up people quickly, one address
        MAIL_FILE_PATH=app.config["MAIL_FILE_PATH"],  # the test's mailbox (tests.mailbox)
    )
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, portal_app, threaded=True, request_handler=_QuietHandler
    )
    url = f"http://127.0.0.1:{server.server_port}"
    portal_app.config["PORTAL_URL"] = url  # links in mail lead back to this server
    thread = threading.Thread(target=server.serve_forever, name="live-portal", daemon=True)
    thread.start()
    live_sandbox.control(
        "webhooks/config",
        webhook_url=url + "/webhooks/stripe",
        connect_webhook_url=url + "/webhooks/stripe/connect",
        webhook_secret=PLATFORM_SECRET,
        connect_webhook_secret=CONNECT_SECRET,
    )
    try:
        yield LivePortal(portal_app, url)
    finally:
        # Deliver what is queued before the tables are emptied: a webhook still being applied
        # when the test's teardown truncates them would deadlock on PostgreSQL.
        live_sandbox.flush()
        live_sandbox.control("webhooks/config", webhook_url="", connect_webhook_url="")
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        with portal_app.app_context():
            db.engine.dispose()


def onboard_coach(
    sandbox: LiveSandbox, coach: User, *, debit_card: str = ""
) -> StripeConnectedAccount:
    """An Express account for `coach`, onboarded on the sandbox's hosted pages.

    Like the portal's own accounts it is on Stripe's `manual` payout schedule, so the sandbox's
    clock never pays it out behind the portal's back.
    """
    client = sandbox.client()
    account = client.v1.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "email": coach.email,
            "capabilities": {
                "card_payments": {"requested": True},
                "transfers": {"requested": True},
            },
            "settings": {"payouts": {"schedule": {"interval": "manual"}}},
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
    browser = requests.Session()
    browser.trust_env = False
    start = browser.get(link.url, allow_redirects=False, timeout=10)
    personal = browser.post(
        sandbox.url + start.headers["Location"],
        data={"first_name": "Grace", "last_name": "Hopper", "dob": "1980-01-02", "tos": "1"},
        allow_redirects=False,
        timeout=10,
    )
    bank = browser.post(
        sandbox.url + personal.headers["Location"],
        data={
            "routing_number": "110000000",
            "account_number": "000123456789",
            "debit_card": debit_card,  # Stripe's test debit card can receive instant payouts
        },
        allow_redirects=False,
        timeout=10,
    )
    assert bank.status_code == 303, bank.text
    row = StripeConnectedAccount(
        user_id=coach.id,
        stripe_account_id=account.id,
        country="US",
        charges_enabled=True,
        payouts_enabled=True,
        details_submitted=True,
        requires_onboarding=False,
    )
    coach.stripe_connect_account_id = account.id
    db.session.add(row)
    db.session.commit()
    # The onboarding's own account.updated events (one says charges are still off) must land
    # before the test goes on, or a page could catch the coach between two of them.
    sandbox.flush()
    db.session.refresh(row)
    return row
