"""Real-shaped Stripe events (API shapes of Event, Payout, Balance, Account and Dispute)."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

_seq = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def event(
    type_: str,
    obj: dict[str, Any],
    *,
    account: str | None = None,
    event_id: str | None = None,
    created: int | None = None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    evt: dict[str, Any] = {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created if created is not None else int(time.time()),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }
    if account is not None:
        evt["account"] = account
    return evt


def payout(
    payout_id: str,
    amount: int,
    *,
    status: str = "pending",
    currency: str = "usd",
    arrival_date: int | None = None,
) -> dict[str, Any]:
    now = int(time.time())
    failed = status == "failed"
    return {
        "id": payout_id,
        "object": "payout",
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": arrival_date or now + 2 * 86400,
        "automatic": True,
        "balance_transaction": new_id("txn"),
        "created": now,
        "currency": currency,
        "description": "STRIPE PAYOUT",
        "destination": new_id("ba"),
        "failure_balance_transaction": new_id("txn") if failed else None,
        "failure_code": "account_closed" if failed else None,
        "failure_message": "The bank account has been closed." if failed else None,
        "livemode": False,
        "metadata": {},
        "method": "standard",
        "original_payout": None,
        "reconciliation_status": "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": None,
        "status": status,
        "trace_id": None,
        "type": "bank_account",
    }


def balance(available: int, pending: int = 0, currency: str = "usd") -> dict[str, Any]:
    def entries(amount: int) -> list[dict[str, Any]]:
        return [{"amount": amount, "currency": currency, "source_types": {"card": amount}}]

    return {
        "object": "balance",
        "available": entries(available),
        "connect_reserved": entries(0),
        "instant_available": entries(available),
        "livemode": False,
        "pending": entries(pending),
    }


def account(
    account_id: str,
    *,
    charges_enabled: bool = True,
    payouts_enabled: bool = True,
    details_submitted: bool = True,
    currently_due: list[str] | None = None,
    country: str = "US",
    default_currency: str = "usd",
) -> dict[str, Any]:
    due = currently_due or []
    requirements = {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": due,
        "disabled_reason": "requirements.past_due" if due and not charges_enabled else None,
        "errors": [],
        "eventually_due": due,
        "past_due": [],
        "pending_verification": [],
    }
    return {
        "id": account_id,
        "object": "account",
        "business_profile": {
            "mcc": "8299",
            "name": None,
            "product_description": "Coaching sessions",
            "support_email": None,
            "url": None,
        },
        "business_type": "individual",
        "capabilities": {
            "card_payments": "active" if charges_enabled else "inactive",
            "transfers": "active" if charges_enabled else "inactive",
        },
        "charges_enabled": charges_enabled,
        "controller": {"type": "application"},
        "country": country,
        "created": int(time.time()) - 86400,
        "default_currency": default_currency,
        "details_submitted": details_submitted,
        "email": None,
        "external_accounts": {"object": "list", "data": [], "has_more": False},
        "future_requirements": {**requirements, "currently_due": [], "eventually_due": []},
        "metadata": {},
        "payouts_enabled": payouts_enabled,
        "requirements": requirements,
        "settings": {"payouts": {"schedule": {"delay_days": 2, "interval": "daily"}}},
        "tos_acceptance": {"date": int(time.time()) - 3600},
        "type": "express",
    }


def dispute(
    payment_intent: str,
    amount: int,
    *,
    status: str = "needs_response",
    reason: str = "fraudulent",
    currency: str = "usd",
) -> dict[str, Any]:
    return {
        "id": new_id("dp"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": new_id("ch"),
        "created": int(time.time()),
        "currency": currency,
        "evidence_details": {
            "due_by": int(time.time()) + 7 * 86400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": reason,
        "status": status,
    }
