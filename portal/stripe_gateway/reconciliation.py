"""Reading what Stripe holds for a period, for reconciling the portal against it.

Each function lists one kind of object created in `[since, until)` (Unix seconds), every page
of it (Stripe's cursor pagination, 100 at a time), as plain dicts. `account` reads a connected
account's objects (the Stripe-Account header) instead of the platform's.

One object just outside a period is looked up where its kind is kept: `retrieve_payment_intent`
here, a refund with `refunds.retrieve_refund`, a payout or a balance with `connect`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from portal.stripe_gateway import call, client, to_plain

PAGE_SIZE = 100


def list_charges(since: int, until: int) -> Iterator[dict[str, Any]]:
    """The platform's charges (destination charges included) created in the period."""
    return _every_page("charges.list", client().v1.charges.list, since, until)


def list_refunds(since: int, until: int) -> Iterator[dict[str, Any]]:
    """The platform's refunds created in the period."""
    return _every_page("refunds.list", client().v1.refunds.list, since, until)


def list_payouts(account: str, since: int, until: int) -> Iterator[dict[str, Any]]:
    """A connected account's payouts created in the period."""
    return _every_page("payouts.list", client().v1.payouts.list, since, until, account=account)


def list_balance_transactions(since: int, until: int) -> Iterator[dict[str, Any]]:
    """The platform balance's movements (charges, refunds, transfers, fees) in the period."""
    return _every_page(
        "balance_transactions.list", client().v1.balance_transactions.list, since, until
    )


def list_disputes(since: int, until: int) -> Iterator[dict[str, Any]]:
    """The platform's disputes created in the period."""
    return _every_page("disputes.list", client().v1.disputes.list, since, until)


def list_application_fees(since: int, until: int) -> Iterator[dict[str, Any]]:
    """The platform's application fees collected in the period, with what was refunded."""
    return _every_page("application_fees.list", client().v1.application_fees.list, since, until)


def retrieve_payment_intent(payment_intent_id: str) -> dict[str, Any]:
    """One PaymentIntent with its latest charge, for an object just outside a listed period."""
    result = call(
        "payment_intents.retrieve",
        client().v1.payment_intents.retrieve,
        payment_intent_id,
        params={"expand": ["latest_charge"]},
    )
    return to_plain(result)


def _every_page(
    operation: str,
    list_func: Callable[..., Any],
    since: int,
    until: int,
    *,
    account: str | None = None,
) -> Iterator[dict[str, Any]]:
    options: dict[str, Any] = {"stripe_account": account} if account else {}
    params: dict[str, Any] = {"created": {"gte": since, "lt": until}, "limit": PAGE_SIZE}
    while True:
        page = call(operation, list_func, params=params, options=options)
        items = [to_plain(item) for item in page.data]
        yield from items
        if not page.has_more or not items:
            return
        params = {**params, "starting_after": items[-1]["id"]}
