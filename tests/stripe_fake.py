"""One Stripe fake, at the gateway seam, for tests that do not run the offline stand-in.

`FakeStripe` replaces the functions of `portal.stripe_gateway`'s modules (checkout, customers,
refunds, connect, reconciliation), each in the one module that defines it, never anything
inside the code under test. It builds the real
request parameters with the gateway's own helpers, keeps objects by idempotency key as Stripe
does, hands back real-shaped plain dicts, and records every call as `(operation, details)`.

`down` makes every call fail as an unreachable Stripe would; `fail_next` fails only the next
booking or refund call; `fail_with` makes the next Connect calls raise the given error.

Stripe releases whole payments: `release(account, payment)` makes one payment available on its
connected account, and `released_transfers` answers, as Stripe's balance transactions do,
with the transfers of the account's payments no longer pending. A transaction that does not know
its transfer (recorded from an event that names the charge by id) has one at Stripe all the
same, which `transfer_of_payment` finds by its PaymentIntent.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from typing import Any

import pytest

from portal.models import Booking, Refund, Transaction, User
from portal.money import to_minor_units
from portal.stripe_gateway import InvalidRequest, StripeUnavailable, idempotency_key
from portal.stripe_gateway import checkout as checkout_gateway
from portal.stripe_gateway import connect as connect_gateway
from portal.stripe_gateway import customers as customers_gateway
from portal.stripe_gateway import reconciliation as reconciliation_gateway
from portal.stripe_gateway import refunds as refunds_gateway
from tests.stripe_refunds import StripeSplits


class FakeStripe:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seq = itertools.count(1)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.by_key: dict[str, dict[str, Any]] = {}
        self.down = False
        self.fail_next = False
        self.fail_with: Exception | None = None
        # Checkout and refunds
        self.sessions: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.splits = StripeSplits()  # each refund's transfer reversal and fee refund
        # Connect
        self.accounts: dict[str, dict[str, Any]] = {}
        self.available: dict[str, int] = {}
        # what reconciliation lists and looks up
        self.charges: list[dict[str, Any]] = []
        self.payouts: dict[str, list[dict[str, Any]]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.balance: list[dict[str, Any]] = []
        self.disputes: list[dict[str, Any]] = []
        self.application_fees: list[dict[str, Any]] = []
        self.expanded_refunds: dict[str, dict[str, Any]] = {}  # refunds made outside the fake
        self.balances: dict[str, dict[str, Any]] = {}  # each connected account's balance
        self.transfers: dict[str, str] = {}  # each destination charge's transfer, by PaymentIntent
        self.released: dict[str, set[str]] = {}  # each account's payments made available

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(customers_gateway, "create_customer", self.create_customer)
        for name in ("create_booking_session", "retrieve_session", "expire_session"):
            monkeypatch.setattr(checkout_gateway, name, getattr(self, name))
        for name in ("create_refund", "retrieve_refund", "list_refunds_for_charge"):
            monkeypatch.setattr(refunds_gateway, name, getattr(self, name))
        for name in (
            "create_express_account",
            "retrieve_account",
            "create_onboarding_link",
            "create_login_link",
            "update_payout_schedule",
            "create_payout",
            "retrieve_payout",
            "released_transfers",
            "transfer_of_payment",
        ):
            monkeypatch.setattr(connect_gateway, name, getattr(self, name))
        monkeypatch.setattr(connect_gateway, "retrieve_balance", self._retrieve(self.balances))
        listings = {
            "list_charges": lambda: self.charges,
            "list_refunds": lambda: list(self.refunds.values()),
            "list_balance_transactions": lambda: self.balance,
            "list_disputes": lambda: self.disputes,
            "list_application_fees": lambda: self.application_fees,
        }
        for name, items in listings.items():
            monkeypatch.setattr(reconciliation_gateway, name, self._listing(items))
        monkeypatch.setattr(
            reconciliation_gateway,
            "list_payouts",
            lambda account, since, until: iter(self._listed(self.payouts.get(account, []))),
        )
        monkeypatch.setattr(
            reconciliation_gateway, "retrieve_payment_intent", self._retrieve(self.intents)
        )

    def _unavailable(self) -> None:
        failing, self.fail_next = self.down or self.fail_next, False
        if failing:
            raise StripeUnavailable(
                "We could not reach our payment provider. Nothing was charged; please try "
                "again in a few minutes."
            )

    # customers
    def create_customer(self, user: User) -> dict[str, Any]:
        self._unavailable()
        key = idempotency_key("customer", user)
        with self.lock:
            self.calls.append(("customers.create", {"key": key, "params": {"email": user.email}}))
            return self.by_key.setdefault(key, {"id": f"cus_test{user.id}", "object": "customer"})

    # checkout
    def create_booking_session(self, booking: Booking, **details: str) -> dict[str, Any]:
        self._unavailable()
        params = checkout_gateway.booking_session_params(booking, **details)
        key = idempotency_key("booking-checkout", booking)
        with self.lock:
            self.calls.append(("checkout.sessions.create", {"key": key, "params": params}))
            if key in self.by_key:
                return copy.deepcopy(self.by_key[key])
            sid = f"cs_test_{next(self.seq):04d}{booking.id}"
            session = {
                "id": sid,
                "object": "checkout.session",
                "mode": "payment",
                "status": "open",
                "payment_status": "unpaid",
                "client_reference_id": params["client_reference_id"],
                "metadata": dict(params["metadata"]),
                "customer": params["customer"],
                "amount_total": params["line_items"][0]["price_data"]["unit_amount"],
                "currency": params["line_items"][0]["price_data"]["currency"],
                "payment_intent": None,
                "expires_at": params["expires_at"],
                "success_url": params["success_url"],
                "cancel_url": params["cancel_url"],
                "url": f"https://checkout.stripe.com/c/pay/{sid}",
            }
            self.sessions[sid] = session
            self.by_key[key] = session
            return copy.deepcopy(session)

    def retrieve_session(self, session_id: str) -> dict[str, Any]:
        self._unavailable()
        with self.lock:
            self.calls.append(("checkout.sessions.retrieve", {"params": {"id": session_id}}))
            if session_id not in self.sessions:
                raise InvalidRequest(f"No such checkout.session: '{session_id}'")
            return copy.deepcopy(self.sessions[session_id])

    def expire_session(self, session_id: str) -> dict[str, Any]:
        self._unavailable()
        with self.lock:
            self.calls.append(("checkout.sessions.expire", {"params": {"id": session_id}}))
            session = self.sessions[session_id]
            if session["status"] != "open":
                raise InvalidRequest("Only Checkout Sessions with a status of open can expire.")
            session["status"] = "expired"
            session["url"] = None
            return copy.deepcopy(session)

    def pay(self, session_id: str, *, payment_status: str = "paid") -> dict[str, Any]:
        """The mentee pays on the hosted page; returns the session as a retrieve expands it."""
        with self.lock:
            session = self.sessions[session_id]
            n = next(self.seq)
            session["status"] = "complete"
            session["payment_status"] = payment_status
            self.transfers[f"pi_test_{n:06d}"] = f"tr_test_{n:06d}"
            session["payment_intent"] = {
                "id": f"pi_test_{n:06d}",
                "object": "payment_intent",
                "status": "succeeded" if payment_status == "paid" else "processing",
                "amount": session["amount_total"],
                "metadata": dict(session["metadata"]),
                "latest_charge": {
                    "id": f"ch_test_{n:06d}",
                    "object": "charge",
                    "transfer": f"tr_test_{n:06d}",
                    "receipt_url": f"https://pay.stripe.com/receipts/{n}",
                },
            }
            return copy.deepcopy(session)

    def event_object(self, session_id: str) -> dict[str, Any]:
        """The session as a webhook carries it: the PaymentIntent is only an id."""
        with self.lock:
            session = copy.deepcopy(self.sessions[session_id])
        if isinstance(session["payment_intent"], dict):
            session["payment_intent"] = session["payment_intent"]["id"]
        return session

    # refunds
    def create_refund(self, refund: Refund, *, payment_intent_id: str) -> dict[str, Any]:
        self._unavailable()
        key = idempotency_key("refund", refund)
        params = {
            "payment_intent": payment_intent_id,
            "amount": to_minor_units(refund.amount, refund.currency),
            "metadata": {"refund_id": str(refund.id)},
        }
        with self.lock:
            self.calls.append(("refunds.create", {"key": key, "params": params}))
            if key in self.by_key:
                return copy.deepcopy(self.by_key[key])
            created = self.splits.made(
                refund,
                {
                    "id": f"re_test_{next(self.seq):06d}",
                    "object": "refund",
                    "status": "succeeded",
                    "created": next(self.seq),
                    **params,
                },
            )
            self.by_key[key] = created
            self.refunds[created["id"]] = created
            return copy.deepcopy(created)

    def retrieve_refund(self, refund_id: str) -> dict[str, Any]:
        self._unavailable()
        with self.lock:
            found = self.expanded_refunds.get(refund_id) or self.refunds.get(refund_id)
        if found is None:
            raise InvalidRequest(f"No such refund: '{refund_id}'", code="resource_missing")
        return copy.deepcopy(found)

    def list_refunds_for_charge(self, charge_id: str) -> list[dict[str, Any]]:
        self._unavailable()
        with self.lock:
            return copy.deepcopy(list(self.refunds.values()))

    # reconciliation's listings and look-ups
    def _listed(self, items: list) -> list:
        if self.down:
            raise StripeUnavailable("We could not reach our payment provider.")
        return items

    def _listing(self, items: Any) -> Any:
        return lambda since, until: iter(self._listed(items()))

    def _retrieve(self, store: dict) -> Any:
        def retrieve(object_id: str) -> dict:
            if object_id not in store:
                raise InvalidRequest(f"No such object: '{object_id}'", code="resource_missing")
            return store[object_id]

        return retrieve

    # Connect
    def _call(self, name: str, **details: Any) -> None:
        with self.lock:
            self.calls.append((name, details))
        if self.fail_with is not None:
            raise self.fail_with

    def create_express_account(self, *, email: str, country: str, idempotency_key: str, **kw: Any):
        self._call("accounts.create", email=email, country=country, key=idempotency_key, **kw)
        with self.lock:
            if idempotency_key not in self.by_key:
                acct_id = f"acct_fake{next(self.seq):08d}"
                self.accounts[acct_id] = {
                    "id": acct_id,
                    "object": "account",
                    "country": country,
                    "default_currency": "usd",
                    "email": email,
                    "charges_enabled": False,
                    "payouts_enabled": False,
                    "details_submitted": False,
                    "business_type": None,
                    "business_profile": {"name": None},
                    "requirements": {
                        "currently_due": ["individual.first_name", "external_account"],
                        "past_due": [],
                        "disabled_reason": "requirements.past_due",
                    },
                    "settings": {"payouts": {"schedule": kw.get("schedule")}},
                    "metadata": kw.get("metadata") or {},
                }
                self.by_key[idempotency_key] = self.accounts[acct_id]
            return copy.deepcopy(self.by_key[idempotency_key])

    def retrieve_account(self, account_id: str) -> dict[str, Any]:
        self._call("accounts.retrieve", account=account_id)
        return copy.deepcopy(self.accounts[account_id])

    def create_onboarding_link(self, account_id: str, *, refresh_url: str, return_url: str) -> str:
        self._call("account_links.create", account=account_id, refresh=refresh_url, ret=return_url)
        return f"https://connect.stripe.com/setup/e/{account_id}/{next(self.seq)}"

    def create_login_link(self, account_id: str) -> str:
        self._call("login_links.create", account=account_id)
        return f"https://connect.stripe.com/express/{account_id}/{next(self.seq)}"

    def update_payout_schedule(self, account_id: str, schedule: dict, *, metadata=None):  # type: ignore[no-untyped-def]
        self._call("accounts.update", account=account_id, schedule=schedule, metadata=metadata)
        self.accounts.setdefault(account_id, {"id": account_id})["settings"] = {
            "payouts": {"schedule": schedule}
        }
        return copy.deepcopy(self.accounts[account_id])

    def create_payout(
        self,
        account_id: str,
        *,
        amount: int,
        currency: str,
        idempotency_key: str,
        method: str = "standard",
        metadata=None,
    ):  # type: ignore[no-untyped-def]
        self._call("payouts.create", account=account_id, amount=amount, key=idempotency_key)
        with self.lock:
            if idempotency_key in self.by_key:
                return copy.deepcopy(self.by_key[idempotency_key])
            if amount > self.available.get(account_id, 10**9):
                raise InvalidRequest(
                    "You have insufficient funds in your Stripe account.",
                    code="balance_insufficient",
                )
            now = int(time.time())
            payout = {
                "id": f"po_fake{next(self.seq):08d}",
                "object": "payout",
                "amount": amount,
                "currency": currency.lower(),
                "status": "pending",
                "arrival_date": now + 2 * 86400,
                "created": now,
                "method": method,
                "failure_code": None,
                "failure_message": None,
                "metadata": metadata or {},
            }
            self.by_key[idempotency_key] = payout
            return copy.deepcopy(payout)

    def retrieve_payout(self, account_id: str, payout_id: str) -> dict[str, Any]:
        """A payout of the account that `payouts` lists or `create_payout` made."""
        self._call("payouts.retrieve", account=account_id, payout=payout_id)
        with self.lock:
            made = [p for p in self.by_key.values() if p.get("object") == "payout"]
            found = [p for p in [*self.payouts.get(account_id, []), *made] if p["id"] == payout_id]
        if not found:
            raise InvalidRequest(f"No such payout: '{payout_id}'", code="resource_missing")
        return copy.deepcopy(found[0])

    # releases: Stripe makes a payment's funds available on the connected account
    def release(self, account_id: str, payment: Transaction | str) -> str:
        """Stripe makes a payment available on the account: a recorded transaction's, or the
        one of a transfer id; returns its transfer."""
        with self.lock:
            if isinstance(payment, str):
                transfer = payment
            elif payment.stripe_transfer_id is not None:
                transfer = self.transfers[payment.stripe_payment_intent_id or ""] = (
                    payment.stripe_transfer_id
                )
            else:
                transfer = self._transfer_for(payment.stripe_payment_intent_id or "")
            self.released.setdefault(account_id, set()).add(transfer)
            return transfer

    def _transfer_for(self, payment_intent_id: str) -> str:
        """Every PaymentIntent the portal records is a destination charge Stripe made."""
        if payment_intent_id not in self.transfers:
            self.transfers[payment_intent_id] = f"tr_fake{next(self.seq):08d}"
        return self.transfers[payment_intent_id]

    def released_transfers(self, account_id: str, currency: str, since: int) -> set[str]:
        self._unavailable()
        self._call("balance_transactions.list", account=account_id, currency=currency, since=since)
        with self.lock:
            return set(self.released.get(account_id, set()))

    def transfer_of_payment(self, payment_intent_id: str) -> str | None:
        self._unavailable()
        self._call("payment_intents.retrieve", payment_intent=payment_intent_id)
        with self.lock:
            return self._transfer_for(payment_intent_id)

    def count(self, operation: str) -> int:
        return sum(1 for op, _ in self.calls if op == operation)

    def params_of(self, operation: str) -> list[dict[str, Any]]:
        return [details["params"] for op, details in self.calls if op == operation]

    def keys_of(self, operation: str) -> list[str]:
        return [details["key"] for op, details in self.calls if op == operation]


@pytest.fixture
def stripe_fake(monkeypatch: pytest.MonkeyPatch) -> FakeStripe:
    fake = FakeStripe()
    fake.install(monkeypatch)
    return fake
