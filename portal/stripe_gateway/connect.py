"""Stripe Connect: coaches' Express accounts, their onboarding and login links, balances, payouts.

What it promises:

- Every function returns plain values (dicts from `to_plain`, ids) and raises the gateway's own
  errors.
- Creating the account and creating a payout carry an idempotency key the caller derives from
  the local record (the coach for the account; the coach and the attempt for a payout), so
  a double click or a retry makes one Stripe object.
- Account links, login links and schedule updates carry no key of ours: a link is single-use
  and short-lived, so replaying an old one would hand the coach a dead link, and setting the
  same schedule twice changes nothing. The library still adds its own key to its network
  retries.
- Calls about a connected account's money (balance, payouts) are made as that account
  (`Stripe-Account` header).
"""

from __future__ import annotations

from typing import Any

from portal.stripe_gateway import call, client, to_plain

CAPABILITIES = {"card_payments": {"requested": True}, "transfers": {"requested": True}}
PAGE_SIZE = 100  # Stripe's largest page


def create_express_account(
    *,
    email: str,
    country: str,
    idempotency_key: str,
    schedule: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A new Express account asking for card payments and transfers."""
    params: dict[str, Any] = {
        "type": "express",
        "country": country,
        "email": email,
        "capabilities": CAPABILITIES,
        "metadata": metadata or {},
    }
    if schedule:
        params["settings"] = {"payouts": {"schedule": schedule}}
    result = call(
        "accounts.create",
        client().v1.accounts.create,
        params=params,
        options={"idempotency_key": idempotency_key},
    )
    return to_plain(result)


def retrieve_account(account_id: str) -> dict[str, Any]:
    return to_plain(call("accounts.retrieve", client().v1.accounts.retrieve, account_id))


def create_onboarding_link(account_id: str, *, refresh_url: str, return_url: str) -> str:
    """A single-use URL of Stripe's hosted onboarding for the account."""
    result = call(
        "account_links.create",
        client().v1.account_links.create,
        params={
            "account": account_id,
            "type": "account_onboarding",
            "refresh_url": refresh_url,
            "return_url": return_url,
        },
    )
    return str(result.url)


def create_login_link(account_id: str) -> str:
    """A single-use URL that signs the coach into their Express dashboard."""
    result = call(
        "accounts.login_links.create", client().v1.accounts.login_links.create, account_id
    )
    return str(result.url)


def update_payout_schedule(
    account_id: str, schedule: dict[str, Any], *, metadata: dict[str, str] | None = None
) -> dict[str, Any]:
    """Set the account's `settings.payouts.schedule` (and optional metadata)."""
    params: dict[str, Any] = {"settings": {"payouts": {"schedule": schedule}}}
    if metadata:
        params["metadata"] = metadata
    result = call("accounts.update", client().v1.accounts.update, account_id, params=params)
    return to_plain(result)


def retrieve_balance(account_id: str) -> dict[str, Any]:
    """The connected account's balance: `available` and `pending` lists of amount/currency."""
    result = call(
        "balance.retrieve",
        client().v1.balance.retrieve,
        options={"stripe_account": account_id},
    )
    return to_plain(result)


def create_payout(
    account_id: str,
    *,
    amount: int,
    currency: str,
    idempotency_key: str,
    method: str = "standard",
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A payout of `amount` minor units from the account's balance: `standard` to its bank, or
    `instant` to its debit card for Stripe's fee. The answer carries its balance transaction
    expanded, which holds that fee."""
    result = call(
        "payouts.create",
        client().v1.payouts.create,
        params={
            "amount": amount,
            "currency": currency.lower(),
            "method": method,
            "metadata": metadata or {},
            "expand": ["balance_transaction"],
        },
        options={"stripe_account": account_id, "idempotency_key": idempotency_key},
    )
    return to_plain(result)


def retrieve_balance_transaction(account_id: str, balance_transaction_id: str) -> dict[str, Any]:
    result = call(
        "balance_transactions.retrieve",
        client().v1.balance_transactions.retrieve,
        balance_transaction_id,
        options={"stripe_account": account_id},
    )
    return to_plain(result)


def instant_payout_card(account_id: str) -> dict[str, Any] | None:
    """The account's external account that Stripe can pay instantly (a debit card), if any."""
    account = retrieve_account(account_id)
    externals = (account.get("external_accounts") or {}).get("data") or []
    return next(
        (e for e in externals if "instant" in (e.get("available_payout_methods") or [])), None
    )


def retrieve_payout(account_id: str, payout_id: str) -> dict[str, Any]:
    """One payout of the connected account, as Stripe holds it now."""
    result = call(
        "payouts.retrieve",
        client().v1.payouts.retrieve,
        payout_id,
        options={"stripe_account": account_id},
    )
    return to_plain(result)


def pending_funds(account_id: str, currency: str) -> list[tuple[int, int]]:
    """The connected account's funds not yet available: (`available_on`, net) per balance
    transaction still pending, from Stripe's newest 100 (older ones are available by now)."""
    result = call(
        "balance_transactions.list",
        client().v1.balance_transactions.list,
        params={"currency": currency.lower(), "limit": 100},
        options={"stripe_account": account_id},
    )
    return [(int(txn.available_on), int(txn.net)) for txn in result.data if txn.status == "pending"]


def released_transfers(account_id: str, currency: str, since: int) -> set[str]:
    """The transfers whose payments on the connected account Stripe has made available: of
    the account's `payment` balance transactions created at or after `since` (a Unix time),
    every page, those no longer pending, by their payment's `source_transfer`.

    This is Stripe's own word on each payment, read when asked, so it cannot be stale the way a
    `balance.available` event's snapshot of the balance is once later money has moved."""
    params: dict[str, Any] = {
        "type": "payment",
        "currency": currency.lower(),
        "created": {"gte": since},
        "limit": PAGE_SIZE,
        "expand": ["data.source"],
    }
    released = set()
    while True:
        page = call(
            "balance_transactions.list",
            client().v1.balance_transactions.list,
            params=params,
            options={"stripe_account": account_id},
        )
        listed = [to_plain(txn) for txn in page.data]
        for txn in listed:
            payment = txn.get("source")
            transfer = payment.get("source_transfer") if isinstance(payment, dict) else None
            if txn["status"] == "available" and isinstance(transfer, str):
                released.add(transfer)
        if not page.has_more or not listed:
            return released
        params = {**params, "starting_after": listed[-1]["id"]}


def transfer_of_payment(payment_intent_id: str) -> str | None:
    """The transfer of a destination charge to the connected account (its PaymentIntent's
    latest charge's `transfer`), or None while it has none."""
    intent = call(
        "payment_intents.retrieve",
        client().v1.payment_intents.retrieve,
        payment_intent_id,
        params={"expand": ["latest_charge"]},
    )
    charge = to_plain(intent).get("latest_charge")
    transfer = charge.get("transfer") if isinstance(charge, dict) else None
    return transfer if isinstance(transfer, str) else None


def payout_balance_transactions(account_id: str, payout_id: str) -> list[dict[str, Any]]:
    """The balance transactions Stripe paid out in an automatic payout (Stripe itemises only
    those), every page of them."""
    listed = call(
        "balance_transactions.list",
        client().v1.balance_transactions.list,
        params={"payout": payout_id, "limit": 100},
        options={"stripe_account": account_id},
    )
    return [to_plain(txn) for txn in listed.auto_paging_iter()]
