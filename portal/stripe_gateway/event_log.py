"""Reading Stripe's event log, for recovering events whose webhooks never arrived."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from portal.stripe_gateway import call, client, to_plain

PAGE_SIZE = 100


def list_events(created_gte: int, *, account: str | None = None) -> Iterator[dict[str, Any]]:
    """Every event created at or after `created_gte` (Unix seconds), newest first, page by page.

    `account` reads a connected account's events (the Stripe-Account header) instead of the
    platform's. Stripe keeps events for 30 days.
    """
    options: dict[str, Any] = {"stripe_account": account} if account else {}
    params: dict[str, Any] = {"created": {"gte": created_gte}, "limit": PAGE_SIZE}
    while True:
        page = call("events.list", client().v1.events.list, params=params, options=options)
        events = [to_plain(event) for event in page.data]
        yield from events
        if not page.has_more or not events:
            return
        params = {**params, "starting_after": events[-1]["id"]}
