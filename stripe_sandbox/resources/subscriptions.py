"""Subscriptions: recurring prices billed to a customer's saved card.

Promises: a subscription starts `incomplete` (invoices.py bills its first period and makes it
`active`); periods live on the subscription item; `cancel_at_period_end` ends it when the
period does; every change emits `customer.subscription.updated` with what changed.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
from typing import TYPE_CHECKING, Any

from ..errors import invalid_request
from ..events import changed_fields
from ..params import get_bool, get_str, merge_metadata
from ..store import Obj, list_object, render
from . import prices

if TYPE_CHECKING:
    from ..sandbox import Sandbox


def add_interval(ts: int, interval: str, count: int) -> int:
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    if interval == "day":
        return ts + 86400 * count
    if interval == "week":
        return ts + 7 * 86400 * count
    months = count * (12 if interval == "year" else 1)
    month_index = d.month - 1 + months
    year, month = d.year + month_index // 12, month_index % 12 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return int(d.replace(year=year, month=month, day=day).timestamp())


SUBSCRIPTION_DEFAULTS: Obj = {
    "application": None,
    "application_fee_percent": None,
    "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
    "billing_cycle_anchor_config": None,
    "billing_mode": {"flexible": None, "type": "classic", "updated_at": None},
    "billing_schedules": [],
    "billing_thresholds": None,
    "cancel_at": None,
    "cancel_at_period_end": False,
    "canceled_at": None,
    "cancellation_details": {"comment": None, "feedback": None, "reason": None},
    "collection_method": "charge_automatically",
    "days_until_due": None,
    "default_source": None,
    "default_tax_rates": [],
    "description": None,
    "discounts": [],
    "ended_at": None,
    "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
    "latest_invoice": None,
    "livemode": False,
    "next_pending_invoice_item_invoice": None,
    "on_behalf_of": None,
    "pause_collection": None,
    "payment_settings": {
        "payment_method_options": None,
        "payment_method_types": None,
        "save_default_payment_method": "off",
    },
    "pending_invoice_item_interval": None,
    "pending_setup_intent": None,
    "pending_update": None,
    "schedule": None,
    "status": "incomplete",
    "test_clock": None,
    "transfer_data": None,
    "trial_end": None,
    "trial_start": None,
}
"""A new subscription's fields that Checkout does not decide: Stripe's values while it is
`incomplete` (`status` and `latest_invoice` change as its first invoice is paid)."""


def create_subscription(
    sb: Sandbox,
    customer: Obj,
    items: list[tuple[Obj, int]],
    payment_method: Obj,
    metadata: dict[str, str],
) -> Obj:
    """A new subscription, `incomplete` until `invoices.bill_first_period` is paid."""
    now = sb.store.now()
    sub_id = sb.store.new_id("sub")
    first_price = items[0][0]
    end = add_interval(
        now, first_price["recurring"]["interval"], first_price["recurring"]["interval_count"]
    )
    sub_items = [_item(sb, sub_id, price, quantity, now, end) for price, quantity in items]
    sub: Obj = {
        "id": sub_id,
        "object": "subscription",
        **copy.deepcopy(SUBSCRIPTION_DEFAULTS),
        "billing_cycle_anchor": now,
        "created": now,
        "currency": first_price["currency"],
        "customer": customer["id"],
        "default_payment_method": payment_method["id"],
        "items": list_object(f"/v1/subscription_items?subscription={sub_id}", sub_items),
        "metadata": metadata,
        "start_date": now,
    }
    sb.store.add(sub)
    sb.emit("customer.subscription.created", sub)
    return sub


def _item(sb: Sandbox, sub_id: str, price: Obj, quantity: int, start: int, end: int) -> Obj:
    """A subscription item for `quantity` of `price`, in its first period."""
    return {
        "id": sb.store.new_id("si", 14),
        "object": "subscription_item",
        "created": start,
        "current_period_end": end,
        "current_period_start": start,
        "discounts": [],
        "metadata": {},
        "plan": prices.legacy_plan(price),
        "price": render(price),
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
    }


def update_subscription(sb: Sandbox, sub: Obj, p: dict[str, Any]) -> Obj:
    if sub["status"] == "canceled":
        raise invalid_request(
            "A canceled subscription can only update its cancellation_details and metadata.",
            None,
        )
    before = render(sub)
    if "cancel_at_period_end" in p:
        sub["cancel_at_period_end"] = get_bool(p, "cancel_at_period_end")
        sub["cancel_at"] = period_end(sub) if sub["cancel_at_period_end"] else None
        sub["canceled_at"] = sb.store.now() if sub["cancel_at_period_end"] else None
        sub["cancellation_details"]["reason"] = (
            "cancellation_requested" if sub["cancel_at_period_end"] else None
        )
    if pm_id := get_str(p, "default_payment_method"):
        pm = sb.store.get(pm_id, "payment_method", None, "default_payment_method")
        if pm["customer"] != sub["customer"]:
            raise invalid_request(
                "The payment method must be attached to the subscription's customer.",
                "default_payment_method",
            )
        sub["default_payment_method"] = pm_id
    sub["metadata"] = merge_metadata(sub["metadata"], p.get("metadata"))
    emit_updated(sb, sub, before)
    return sub


def cancel_subscription(sb: Sandbox, sub: Obj) -> Obj:
    if sub["status"] == "canceled":
        raise invalid_request(
            f"No such subscription: '{sub['id']}' is already canceled.", None, "resource_missing"
        )
    now = sb.store.now()
    sub.update(status="canceled", canceled_at=sub["canceled_at"] or now, ended_at=now)
    sub["cancellation_details"]["reason"] = sub["cancellation_details"]["reason"] or (
        "cancellation_requested"
    )
    sb.emit("customer.subscription.deleted", sub)
    return sub


def emit_updated(sb: Sandbox, sub: Obj, before: Obj) -> None:
    if previous := changed_fields(before, sub):
        sb.emit("customer.subscription.updated", sub, None, previous)


def period_end(sub: Obj) -> int:
    return sub["items"]["data"][0]["current_period_end"]
