"""Products, prices, subscriptions, invoices and billing portal sessions.

Promises: a subscription bills its first invoice when created (from Checkout) and each period
after that when the sandbox clock passes the item's `current_period_end`: `invoice.finalized`
then `invoice.paid`, or `invoice.payment_failed` with the subscription `past_due` when the card
declines (retried every 3 days, canceled after 4 failed attempts). Periods live on the
subscription item, and an invoice names its subscription under
`parent.subscription_details.subscription`, as in the current API.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
from typing import TYPE_CHECKING, Any

from . import payments
from .errors import StripeError, invalid_request, missing_param
from .params import get_bool, get_choice, get_dict, get_int, get_str, merge_metadata
from .store import Obj, list_object, paginate, render

if TYPE_CHECKING:
    from .sandbox import Sandbox

RETRY_EVERY = 3 * 86400
MAX_ATTEMPTS = 4


# -- products and prices -------------------------------------------------------------------------
def create_product(sb: Sandbox, p: dict[str, Any], announce: bool = True) -> Obj:
    """A product; `announce=False` for Checkout's inline `product_data`, which has no event."""
    now = sb.store.now()
    product: Obj = {
        "id": sb.store.new_id("prod", 14),
        "object": "product",
        "active": get_bool(p, "active", True),
        "created": now,
        "default_price": None,
        "description": get_str(p, "description"),
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": merge_metadata({}, p.get("metadata")),
        "name": get_str(p, "name", required=True),
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
    }
    sb.store.add(product)
    if announce:
        sb.emit("product.created", product)
    return product


def create_price(sb: Sandbox, p: dict[str, Any], param_prefix: str = "") -> Obj:
    """A price from `price` create params or a Checkout line item's `price_data` (under
    `param_prefix`, without events: Stripe announces only the prices made by the API)."""
    announce = not param_prefix
    currency = (get_str(p, "currency") or "").lower()
    if not currency:
        raise missing_param(param_prefix + ("[currency]" if param_prefix else "currency"))
    product_id = get_str(p, "product")
    if product_id:
        product = sb.store.get(product_id, "product", None, "product")
    elif p.get("product_data"):
        product = create_product(sb, get_dict(p, "product_data"), announce)
    else:
        raise missing_param(param_prefix + ("[product]" if param_prefix else "product"))
    unit_amount = get_int(p, "unit_amount")
    if unit_amount is None or unit_amount < 0:
        raise missing_param(param_prefix + ("[unit_amount]" if param_prefix else "unit_amount"))
    recurring = get_dict(p, "recurring")
    price: Obj = {
        "id": sb.store.new_id("price"),
        "object": "price",
        "active": get_bool(p, "active", True),
        "billing_scheme": "per_unit",
        "created": sb.store.now(),
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": get_str(p, "lookup_key"),
        "metadata": merge_metadata({}, p.get("metadata")),
        "nickname": get_str(p, "nickname"),
        "product": product["id"],
        "recurring": None,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }
    if recurring:
        price["recurring"] = {
            "interval": get_choice(recurring, "interval", ["day", "week", "month", "year"]),
            "interval_count": get_int(recurring, "interval_count", 1),
            "meter": None,
            "usage_type": "licensed",
        }
        if not price["recurring"]["interval"]:
            raise missing_param("recurring[interval]")
    sb.store.add(price)
    if announce:
        sb.emit("price.created", price)
    return price


def _plan(price: Obj) -> Obj:
    """The legacy `plan` Stripe still shows beside a recurring price on subscription items."""
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": price["recurring"]["interval"],
        "interval_count": price["recurring"]["interval_count"],
        "livemode": False,
        "metadata": dict(price["metadata"]),
        "meter": None,
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": price["recurring"]["usage_type"],
    }


def list_prices(sb: Sandbox, p: dict[str, Any], account: str | None) -> Obj:
    """`GET /v1/prices` with Stripe's filters: `lookup_keys` (up to 10), `active`, `product`,
    `currency`, `type`, and cursor pagination, newest first."""
    keys = p.get("lookup_keys")
    if keys is not None and not isinstance(keys, list):
        keys = [keys]
    if keys is not None and (len(keys) > 10 or not all(isinstance(k, str) for k in keys)):
        raise invalid_request("lookup_keys takes up to 10 lookup keys.", "lookup_keys")
    active = get_bool(p, "active") if "active" in p else None
    product = get_str(p, "product")
    currency = (get_str(p, "currency") or "").lower() or None
    type_ = get_choice(p, "type", ["one_time", "recurring"])

    def wanted(price: Obj) -> bool:
        return (
            (keys is None or price["lookup_key"] in keys)
            and (active is None or price["active"] == active)
            and (product is None or price["product"] == product)
            and (currency is None or price["currency"] == currency)
            and (type_ is None or price["type"] == type_)
        )

    return paginate(sb.store.select("price", account, wanted), p, "/v1/prices")


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


# -- subscriptions -------------------------------------------------------------------------------
def create_subscription(
    sb: Sandbox,
    customer: Obj,
    items: list[tuple[Obj, int]],
    payment_method: Obj,
    metadata: dict[str, str],
) -> tuple[Obj, Obj]:
    """A subscription and its paid first invoice (Checkout already took an authenticated card).

    As with Stripe, it starts `incomplete` and becomes `active` once the first invoice is paid,
    and its events say so in that order.
    """
    now = sb.store.now()
    sub_id = sb.store.new_id("sub")
    first_price = items[0][0]
    end = add_interval(
        now, first_price["recurring"]["interval"], first_price["recurring"]["interval_count"]
    )
    sub_items = [
        {
            "id": sb.store.new_id("si", 14),
            "object": "subscription_item",
            "created": now,
            "current_period_end": end,
            "current_period_start": now,
            "discounts": [],
            "metadata": {},
            "plan": _plan(price),
            "price": render(price),
            "quantity": quantity,
            "subscription": sub_id,
            "tax_rates": [],
        }
        for price, quantity in items
    ]
    sub: Obj = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": now,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic", "updated_at": None},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": now,
        "currency": first_price["currency"],
        "customer": customer["id"],
        "days_until_due": None,
        "default_payment_method": payment_method["id"],
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": list_object(f"/v1/subscription_items?subscription={sub_id}", sub_items),
        "latest_invoice": None,
        "livemode": False,
        "metadata": metadata,
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
        "start_date": now,
        "status": "incomplete",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_start": None,
    }
    sb.store.add(sub)
    sb.emit("customer.subscription.created", sub)
    invoice = _new_invoice(sb, sub, customer, "subscription_create")
    _finalize(sb, invoice)
    pi = _invoice_payment_intent(sb, invoice, customer, payment_method)
    payments.confirm_payment_intent(sb, pi, None, authenticated=True)
    _mark_paid(sb, invoice, pi)
    before = render(sub)
    sub["status"] = "active"
    _emit_updated(sb, sub, before)
    return sub, invoice


def update_subscription(sb: Sandbox, sub: Obj, p: dict[str, Any]) -> Obj:
    if sub["status"] == "canceled":
        raise invalid_request(
            "A canceled subscription can only update its cancellation_details and metadata.",
            None,
        )
    before = render(sub)
    if "cancel_at_period_end" in p:
        sub["cancel_at_period_end"] = get_bool(p, "cancel_at_period_end")
        sub["cancel_at"] = _period_end(sub) if sub["cancel_at_period_end"] else None
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
    _emit_updated(sb, sub, before)
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


def _emit_updated(sb: Sandbox, sub: Obj, before: Obj) -> None:
    after = render(sub)
    previous = {k: v for k, v in before.items() if after.get(k) != v}
    if previous:
        sb.emit("customer.subscription.updated", sub, None, previous)


def _period_end(sub: Obj) -> int:
    return sub["items"]["data"][0]["current_period_end"]


# -- invoices ------------------------------------------------------------------------------------
def _new_invoice(sb: Sandbox, sub: Obj, customer: Obj, reason: str) -> Obj:
    now = sb.store.now()
    inv_id = sb.store.new_id("in")
    lines = []
    total = 0
    for item in sub["items"]["data"]:
        price = item["price"]
        amount = price["unit_amount"] * item["quantity"]
        total += amount
        product = sb.store.find(price["product"]) or {"name": "Subscription"}
        lines.append(
            {
                "id": sb.store.new_id("il"),
                "object": "line_item",
                "amount": amount,
                "currency": price["currency"],
                "description": f"{item['quantity']} × {product['name']}",
                "discount_amounts": [],
                "discountable": True,
                "discounts": [],
                "invoice": inv_id,
                "livemode": False,
                "metadata": {},
                "parent": {
                    "invoice_item_details": None,
                    "subscription_item_details": {
                        "invoice_item": None,
                        "proration": False,
                        "proration_details": {"credited_items": None},
                        "subscription": sub["id"],
                        "subscription_item": item["id"],
                    },
                    "type": "subscription_item_details",
                },
                "period": {
                    "end": item["current_period_end"],
                    "start": item["current_period_start"],
                },
                "pretax_credit_amounts": [],
                "pricing": {
                    "price_details": {"price": price["id"], "product": price["product"]},
                    "type": "price_details",
                    "unit_amount_decimal": str(price["unit_amount"]),
                },
                "quantity": item["quantity"],
                "subtotal": amount,
                "taxes": [],
            }
        )
    number = sb.store.next_number("invoice")
    invoice: Obj = {
        "id": inv_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Sandbox platform",
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": total,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "billing_reason": reason,
        "collection_method": "charge_automatically",
        "created": now,
        "currency": sub["currency"],
        "customer": customer["id"],
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "hosted_invoice_url": sb.page_url(f"/invoices/{inv_id}"),
        "invoice_pdf": sb.page_url(f"/invoices/{inv_id}/pdf"),
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "lines": list_object(f"/v1/invoices/{inv_id}/lines", lines),
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": f"{customer['invoice_prefix']}-{number:04d}",
        "parent": {
            "quote_details": None,
            "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]},
            "type": "subscription_details",
        },
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "payments": list_object(f"/v1/invoice_payments?invoice={inv_id}", []),
        "period_end": sub["items"]["data"][0]["current_period_end"],
        "period_start": sub["items"]["data"][0]["current_period_start"],
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "starting_balance": 0,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_taxes": [],
        "webhooks_delivered_at": now,
    }
    sb.store.add(invoice)
    sub["latest_invoice"] = inv_id
    sb.emit("invoice.created", invoice)
    return invoice


def _finalize(sb: Sandbox, invoice: Obj) -> None:
    now = sb.store.now()
    invoice.update(status="open", effective_at=now, ending_balance=0)
    invoice["status_transitions"]["finalized_at"] = now
    sb.emit("invoice.finalized", invoice)


def _invoice_payment_intent(sb: Sandbox, invoice: Obj, customer: Obj, pm: Obj) -> Obj:
    pi = payments.create_payment_intent(
        sb,
        {
            "amount": str(invoice["amount_due"]),
            "currency": invoice["currency"],
            "customer": customer["id"],
            "payment_method": pm["id"],
            "description": "Subscription update"
            if invoice["billing_reason"] == "subscription_cycle"
            else "Subscription creation",
        },
        None,
    )
    invoice["payments"]["data"].insert(
        0,
        {
            "id": sb.store.new_id("inpay"),
            "object": "invoice_payment",
            "amount_paid": None,
            "amount_requested": invoice["amount_due"],
            "created": sb.store.now(),
            "currency": invoice["currency"],
            "invoice": invoice["id"],
            "is_default": True,
            "livemode": False,
            "payment": {"payment_intent": pi["id"], "type": "payment_intent"},
            "status": "open",
            "status_transitions": {"canceled_at": None, "paid_at": None},
        },
    )
    return pi


def _mark_paid(sb: Sandbox, invoice: Obj, pi: Obj) -> None:
    now = sb.store.now()
    previous = {"status": invoice["status"], "amount_paid": invoice["amount_paid"]}
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_due"],
        amount_remaining=0,
        attempted=True,
        attempt_count=invoice["attempt_count"] + 1,
        next_payment_attempt=None,
    )
    invoice["status_transitions"]["paid_at"] = now
    payment = invoice["payments"]["data"][0]
    payment.update(amount_paid=invoice["amount_due"], status="paid")
    payment["status_transitions"]["paid_at"] = now
    sb.emit("invoice.paid", invoice, None, previous)
    sb.emit("invoice.payment_succeeded", invoice, None, previous)


def pay_invoice(sb: Sandbox, invoice: Obj, payment_method: str | None = None) -> Obj:
    """Try to collect an open invoice with the subscription's (or customer's) default card."""
    if invoice["status"] != "open":
        raise invalid_request(
            f"Invoice is already {invoice['status']}.", None, "invoice_not_editable"
        )
    sub = sb.store.find(invoice["parent"]["subscription_details"]["subscription"])
    customer = sb.store.get(invoice["customer"], "customer", None)
    pm_id = (
        payment_method
        or (sub and sub["default_payment_method"])
        or (customer["invoice_settings"]["default_payment_method"])
    )
    now = sb.store.now()
    invoice["attempted"] = True
    if not pm_id:
        invoice["attempt_count"] += 1
        invoice["next_payment_attempt"] = now + RETRY_EVERY
        sb.emit("invoice.payment_failed", invoice)
        raise invalid_request("The customer has no default payment method.", None)
    pm = sb.store.get(pm_id, "payment_method", None, "payment_method")
    pi = _invoice_payment_intent(sb, invoice, customer, pm)
    try:
        payments.confirm_payment_intent(sb, pi, None, off_session=True)
    except StripeError:
        invoice["attempt_count"] += 1
        invoice["next_payment_attempt"] = now + RETRY_EVERY
        invoice["payments"]["data"][0]["status"] = "failed"
        sb.emit("invoice.payment_failed", invoice)
        if sub is not None:
            _after_failed_attempt(sb, sub, invoice)
        raise
    _mark_paid(sb, invoice, pi)
    if sub is not None and sub["status"] in ("past_due", "unpaid"):
        before = render(sub)
        sub["status"] = "active"
        _emit_updated(sb, sub, before)
    return invoice


def _after_failed_attempt(sb: Sandbox, sub: Obj, invoice: Obj) -> None:
    before = render(sub)
    if invoice["attempt_count"] >= MAX_ATTEMPTS:
        invoice["next_payment_attempt"] = None
        invoice["status"] = "uncollectible"
        invoice["status_transitions"]["marked_uncollectible_at"] = sb.store.now()
        cancel_subscription(sb, sub)
        return
    sub["status"] = "past_due"
    _emit_updated(sb, sub, before)


def renew_subscriptions(sb: Sandbox) -> None:
    """Bill every period the clock has passed, and retry open invoices that are due."""
    now = sb.store.now()
    for sub in sb.store.select("subscription", None):
        for _ in range(24):  # at most two years of months per tick
            if sub["status"] not in ("active", "past_due") or _period_end(sub) > now:
                break
            _renew(sb, sub)
    for invoice in sb.store.select("invoice", None):
        due = invoice["next_payment_attempt"]
        if invoice["status"] == "open" and due is not None and due <= now:
            with contextlib.suppress(StripeError):  # recorded on the invoice and in events
                pay_invoice(sb, invoice)


def _renew(sb: Sandbox, sub: Obj) -> None:
    before = render(sub)
    if sub["cancel_at_period_end"]:
        cancel_subscription(sb, sub)
        return
    for item in sub["items"]["data"]:
        start = item["current_period_end"]
        recurring = item["price"]["recurring"]
        item["current_period_start"] = start
        item["current_period_end"] = add_interval(
            start, recurring["interval"], recurring["interval_count"]
        )
    _emit_updated(sb, sub, before)
    customer = sb.store.get(sub["customer"], "customer", None)
    invoice = _new_invoice(sb, sub, customer, "subscription_cycle")
    _finalize(sb, invoice)
    with contextlib.suppress(StripeError):  # recorded on the invoice and in events
        pay_invoice(sb, invoice)


# -- billing portal ------------------------------------------------------------------------------
def create_portal_session(sb: Sandbox, p: dict[str, Any]) -> Obj:
    customer = sb.store.get(
        get_str(p, "customer", required=True) or "", "customer", None, "customer"
    )
    session_id = sb.store.new_id("bps")
    session: Obj = {
        "id": session_id,
        "object": "billing_portal.session",
        "configuration": "bpc_sandboxdefault",
        "created": sb.store.now(),
        "customer": customer["id"],
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": get_str(p, "return_url"),
        "url": sb.page_url(f"/billing/portal/{session_id}"),
    }
    return sb.store.add(session)
