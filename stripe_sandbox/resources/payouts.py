"""Payouts: money from a connected account's available balance to its bank account or debit card.

Promises: payouts leave the available balance at once (400 `balance_insufficient` when it is
short), then reach `paid` or `failed` (money back) when the clock passes `arrival_date`, with
`payout.updated` beside each status event. Accounts on a daily, weekly or monthly schedule are
paid out automatically by the clock (`manual` stays manual). Instant payouts need a debit card
external account, carry Stripe's 1% fee (at least 0.50) on their balance transaction and are
paid at once; without such a card they get `instant_payouts_unsupported`. Bank account
000111111116 makes every payout fail.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import TYPE_CHECKING, Any

from ..errors import invalid_request
from ..params import get_choice, get_int, get_str, merge_metadata
from ..store import Obj
from . import accounts, balance

if TYPE_CHECKING:
    from ..sandbox import Sandbox

INSTANT_FEE_PERCENT = 1
INSTANT_FEE_MINIMUM = 50
"""Stripe's Instant Payout fee: 1% of the amount, at least 0.50 (two-decimal currencies)."""


def create_payout(sb: Sandbox, p: dict[str, Any], account: str | None) -> Obj:
    if account is None:
        raise invalid_request(
            "The sandbox makes payouts for connected accounts only: send the Stripe-Account "
            "header.",
            None,
        )
    acct = sb.store.get(account, "account", None)
    amount = get_int(p, "amount", required=True) or 0
    if amount <= 0:
        raise invalid_request("Invalid positive integer", "amount")
    currency = (get_str(p, "currency", required=True) or "").lower()
    method = get_choice(p, "method", ["standard", "instant"], "standard") or "standard"
    if not acct["external_accounts"]["data"] or not acct["payouts_enabled"]:
        raise invalid_request(
            "Payouts are not enabled for this account: it has no external account yet. "
            "Finish onboarding first.",
            None,
            "payouts_not_allowed",
        )
    destination = _payout_destination(acct, get_str(p, "destination"), method)
    fee = instant_fee(amount, currency) if method == "instant" else 0
    if balance.available(sb, account, currency) < amount + fee:
        raise invalid_request(
            "You have insufficient funds in your Stripe account for this transfer. Your card "
            "balance is too low.",
            "amount",
            "balance_insufficient",
        )
    return _new_payout(
        sb,
        acct,
        amount=amount,
        currency=currency,
        method=method,
        destination=destination,
        fee=fee,
        automatic=False,
        description=get_str(p, "description"),
        metadata=merge_metadata({}, p.get("metadata")),
        statement_descriptor=get_str(p, "statement_descriptor"),
    )


def instant_fee(amount: int, currency: str) -> int:
    """Stripe's Instant Payout fee on `amount`, rounded half up."""
    minimum = 0 if currency in balance.ZERO_DECIMAL else INSTANT_FEE_MINIMUM
    return max((2 * amount * INSTANT_FEE_PERCENT + 100) // 200, minimum)


def _payout_destination(acct: Obj, requested: str | None, method: str) -> Obj:
    """The external account a payout goes to: the one named, or the default (standard) / the
    first instant-eligible one (instant)."""
    externals = acct["external_accounts"]["data"]
    if requested:
        found = [e for e in externals if e["id"] == requested]
        if not found:
            raise invalid_request(
                f"No such external account: '{requested}'", "destination", "resource_missing"
            )
        chosen = found[0]
    elif method == "instant":
        eligible = [e for e in externals if "instant" in e["available_payout_methods"]]
        chosen = eligible[0] if eligible else externals[0]
    else:
        chosen = next((e for e in externals if e["default_for_currency"]), externals[0])
    if method not in chosen["available_payout_methods"]:
        raise invalid_request(
            "This account has no external account eligible for Instant Payouts: add a debit card "
            f"(test: {next(iter(accounts.DEBIT_CARDS))}) first, or pay out with method=standard.",
            "destination" if requested else "method",
            "instant_payouts_unsupported",
        )
    return chosen


PAYOUT_DEFAULTS: Obj = {
    "application_fee": None,
    "application_fee_amount": None,
    "failure_balance_transaction": None,
    "failure_code": None,
    "failure_message": None,
    "livemode": False,
    "original_payout": None,
    "reversed_by": None,
    "source_type": "card",
    "status": "pending",
    "trace_id": None,
}
"""A new payout's fields that do not depend on what it pays: Stripe's values while pending."""


def _new_payout(
    sb: Sandbox,
    acct: Obj,
    *,
    amount: int,
    currency: str,
    method: str,
    destination: Obj,
    fee: int,
    automatic: bool,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    statement_descriptor: str | None = None,
) -> Obj:
    account = acct["id"]
    now = sb.store.now()
    payout_id = sb.store.new_id("po")
    instant = method == "instant"
    txn = _withdraw(sb, account, payout_id, amount, currency, fee)
    payout: Obj = {
        "id": payout_id,
        "object": "payout",
        **PAYOUT_DEFAULTS,
        "amount": amount,
        "arrival_date": now if instant else now + sb.config.payout_arrival,
        "automatic": automatic,
        "balance_transaction": txn["id"],
        "created": now,
        "currency": currency,
        "description": description,
        "destination": destination["id"],
        "metadata": metadata or {},
        "method": method,
        "reconciliation_status": "in_progress" if automatic else "not_applicable",
        "statement_descriptor": statement_descriptor,
        "type": "card" if destination["object"] == "card" else "bank_account",
        "_fails": acct["_bank_fails"] or _take_fail_next(sb, account),
    }
    sb.store.add(payout, account)
    sb.emit("payout.created", payout, account)
    if instant:
        _settle(sb, payout, account)
    return payout


def _withdraw(
    sb: Sandbox, account: str, payout_id: str, amount: int, currency: str, fee: int
) -> Obj:
    """The payout's balance transaction: the amount leaves the available balance, with the fee."""
    fees = [balance.fee_detail(fee, currency, "stripe_fee", "Instant Payout fee")] if fee else []
    txn = balance.record(
        sb,
        account,
        amount=-amount,
        currency=currency,
        type_="payout",
        source=payout_id,
        fee_details=fees,
        description="STRIPE PAYOUT",
    )
    txn["_payout"] = payout_id
    return txn


def pay_out_scheduled(sb: Sandbox) -> None:
    """Automatic payouts: on each payout day of an account's daily, weekly or monthly schedule
    (UTC), pay out its whole available balance per currency, sweeping the balance transactions
    it pays out (`balance_transactions.list(payout=...)`). Manual schedules are left alone."""
    now = sb.store.now()
    day = dt.datetime.fromtimestamp(now, dt.UTC).date()
    with sb.store.lock:
        for acct in sb.store.select("account", None):
            schedule = acct["settings"]["payouts"]["schedule"]
            if (
                schedule["interval"] == "manual"
                or not acct["payouts_enabled"]
                or not acct["external_accounts"]["data"]
                or acct.get("_last_payout_day") == day.isoformat()
                or not is_payout_day(schedule, day)
            ):
                continue
            acct["_last_payout_day"] = day.isoformat()
            for currency, amount in _available_by_currency(sb, acct["id"]).items():
                if amount > 0:
                    _automatic_payout(sb, acct, currency, amount)


def is_payout_day(schedule: dict[str, Any], day: dt.date) -> bool:
    interval = schedule["interval"]
    if interval == "daily":
        return True
    if interval == "weekly":
        return accounts.WEEKDAYS[day.weekday()] == schedule["weekly_anchor"]
    if interval == "monthly":
        last = calendar.monthrange(day.year, day.month)[1]
        return day.day == min(int(schedule["monthly_anchor"]), last)
    return False


def _available_by_currency(sb: Sandbox, account: str) -> dict[str, int]:
    sums: dict[str, int] = {}
    for txn in sb.store.select("balance_transaction", account):
        if txn["status"] == "available":
            sums[txn["currency"]] = sums.get(txn["currency"], 0) + txn["net"]
    return sums


def _automatic_payout(sb: Sandbox, acct: Obj, currency: str, amount: int) -> Obj:
    swept = [
        t
        for t in sb.store.select("balance_transaction", acct["id"])
        if t["status"] == "available" and t["currency"] == currency and t["_payout"] is None
    ]
    externals = acct["external_accounts"]["data"]
    bank = next((e for e in externals if e["default_for_currency"]), externals[0])
    payout = _new_payout(
        sb,
        acct,
        amount=amount,
        currency=currency,
        method="standard",
        destination=bank,
        fee=0,
        automatic=True,
    )
    for txn in swept:
        txn["_payout"] = payout["id"]
    return payout


def _take_fail_next(sb: Sandbox, account: str) -> bool:
    for key in (account, None):
        if key in sb.store.fail_next_payout:
            sb.store.fail_next_payout.discard(key)
            return True
    return False


def cancel_payout(sb: Sandbox, payout: Obj, account: str | None) -> Obj:
    if payout["status"] != "pending" or payout["method"] == "instant":
        raise invalid_request(
            f"Payouts can only be canceled while they are pending; this one is {payout['status']}.",
            None,
        )
    previous = {"status": payout["status"]}
    payout["status"] = "canceled"
    balance.record(
        sb,
        account,
        amount=payout["amount"],
        currency=payout["currency"],
        type_="payout_cancel",
        source=payout["id"],
    )
    sb.emit("payout.updated", payout, account, previous)
    sb.emit("payout.canceled", payout, account, previous)
    return payout


def settle_payouts(sb: Sandbox) -> None:
    now = sb.store.now()
    with sb.store.lock:
        due = [
            (oid, obj)
            for oid, obj in sb.store.objects.items()
            if obj.get("object") == "payout"
            and obj["status"] == "pending"
            and obj["arrival_date"] <= now
        ]
        for oid, payout in due:
            _settle(sb, payout, sb.store.owner[oid])


def _settle(sb: Sandbox, payout: Obj, account: str | None) -> None:
    previous = {"status": payout["status"]}
    if payout["_fails"]:
        payout["status"] = "failed"
        payout["failure_code"] = "no_account"
        payout["failure_message"] = "The bank account details on file are probably incorrect."
        payout["failure_balance_transaction"] = balance.record(
            sb,
            account,
            amount=payout["amount"],
            currency=payout["currency"],
            type_="payout_failure",
            source=payout["id"],
        )["id"]
        sb.emit("payout.updated", payout, account, previous)
        sb.emit("payout.failed", payout, account, previous)
    else:
        payout["status"] = "paid"
        if payout["automatic"]:
            payout["reconciliation_status"] = "completed"
        sb.emit("payout.updated", payout, account, previous)
        sb.emit("payout.paid", payout, account, previous)
