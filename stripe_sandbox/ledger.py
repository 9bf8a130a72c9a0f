"""Balances: every movement of money is a balance transaction (`txn_`) on one account.

Promises: an account's Balance is the sum of its balance transactions' `net`, split by currency
into `pending` (not yet at `available_on`) and `available`; `release_due` moves pending funds
to available when the sandbox clock passes `available_on` and emits `balance.available` for each
account whose available balance grew.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .store import Obj

PLATFORM_APPLICATION = "ca_sandboxplatform"

if TYPE_CHECKING:
    from .sandbox import Sandbox

ZERO_DECIMAL = {
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
}  # fmt: skip

CATEGORIES = {
    "charge": "charge",
    "payment": "charge",
    "refund": "refund",
    "payment_refund": "refund",
    "transfer": "transfer",
    "transfer_refund": "transfer_reversal",
    "transfer_cancel": "transfer_reversal",
    "payout": "payout",
    "payout_failure": "payout_reversal",
    "payout_cancel": "payout_reversal",
    "adjustment": "other_adjustment",
    "application_fee": "platform_earning",
    "application_fee_refund": "platform_earning_refund",
}
"""Stripe's reporting category of each balance transaction type the sandbox writes."""


def stripe_fee(amount: int, currency: str) -> int:
    """Stripe's processing fee on a card payment: 2.9% plus a fixed 30 minor units."""
    fixed = 0 if currency in ZERO_DECIMAL else 30
    return (amount * 29 + 500) // 1000 + fixed


def fee_detail(amount: int, currency: str, type_: str, description: str) -> Obj:
    """One entry of a balance transaction's `fee_details` (`stripe_fee` or `application_fee`)."""
    return {
        "amount": amount,
        "application": PLATFORM_APPLICATION if type_ == "application_fee" else None,
        "currency": currency,
        "description": description,
        "type": type_,
    }


def record(
    sb: Sandbox,
    account: str | None,
    *,
    amount: int,
    currency: str,
    type_: str,
    source: str | None,
    fee_details: list[Obj] | None = None,
    available_on: int | None = None,
    description: str | None = None,
    reporting_category: str | None = None,
) -> Obj:
    """A balance transaction: `net` is `amount` minus its fees; pending until `available_on`.

    Without `available_on` the money is available at once: refunds, reversals, payouts and
    fees touch the available balance, which may go below zero, as on Stripe.
    """
    now = sb.store.now()
    details = fee_details or []
    fee = sum(d["amount"] for d in details)
    due = now if available_on is None else available_on
    txn: Obj = {
        "id": sb.store.new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": due,
        "balance_type": "payments",
        "created": now,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": details,
        "net": amount - fee,
        "reporting_category": reporting_category or CATEGORIES.get(type_, "other_adjustment"),
        "source": source,
        "status": "pending" if due > now else "available",
        "type": type_,
        "_payout": None,
    }
    return sb.store.add(txn, account)


def balance(sb: Sandbox, account: str | None, default_currency: str = "usd") -> Obj:
    sums: dict[str, dict[str, int]] = {}
    for txn in sb.store.select("balance_transaction", account):
        per = sums.setdefault(txn["currency"], {"available": 0, "pending": 0})
        per[txn["status"]] += txn["net"]
    if not sums:
        sums[default_currency] = {"available": 0, "pending": 0}

    def entries(status: str) -> list[Obj]:
        return [
            {"amount": v[status], "currency": c, "source_types": {"card": v[status]}}
            for c, v in sorted(sums.items())
        ]

    return {
        "object": "balance",
        "available": entries("available"),
        "instant_available": entries("available"),
        "livemode": False,
        "pending": entries("pending"),
    }


def available(sb: Sandbox, account: str | None, currency: str) -> int:
    return sum(
        t["net"]
        for t in sb.store.select("balance_transaction", account)
        if t["currency"] == currency and t["status"] == "available"
    )


def release_due(sb: Sandbox) -> None:
    now = sb.store.now()
    released: dict[str | None, bool] = {}
    with sb.store.lock:
        for txn_id, txn in list(sb.store.objects.items()):
            if (
                txn.get("object") == "balance_transaction"
                and txn["status"] == "pending"
                and txn["available_on"] <= now
            ):
                txn["status"] = "available"
                if txn["net"] > 0:
                    released[sb.store.owner[txn_id]] = True
        for account in released:
            currency = "usd"
            if account is not None:
                acct = sb.store.find(account)
                currency = acct["default_currency"] if acct else "usd"
            sb.emit("balance.available", balance(sb, account, currency), account=account)
