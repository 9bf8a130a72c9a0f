"""Invoices: what a subscription bills each period, and the clock that bills and retries them.

Promises: a subscription bills its first invoice when created (from Checkout) and each period
after that when the sandbox clock passes the item's `current_period_end`: `invoice.finalized`
then `invoice.paid`, or `invoice.payment_failed` with the subscription `past_due` when the card
declines (retried every 3 days, canceled after 4 failed attempts). An invoice names its
subscription under `parent.subscription_details.subscription`, as in the current API.
"""

from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING

from ..errors import StripeError, invalid_request
from ..store import Obj, list_object, render
from . import payment_intents, subscriptions

if TYPE_CHECKING:
    from ..sandbox import Sandbox

RETRY_EVERY = 3 * 86400
MAX_ATTEMPTS = 4


INVOICE_DEFAULTS: Obj = {
    "account_country": "US",
    "account_name": "Sandbox platform",
    "amount_overpaid": 0,
    "amount_paid": 0,
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
    "collection_method": "charge_automatically",
    "default_payment_method": None,
    "default_tax_rates": [],
    "description": None,
    "discounts": [],
    "due_date": None,
    "effective_at": None,
    "ending_balance": None,
    "issuer": {"type": "self"},
    "last_finalization_error": None,
    "livemode": False,
    "metadata": {},
    "next_payment_attempt": None,
    "payment_settings": {
        "default_mandate": None,
        "payment_method_options": None,
        "payment_method_types": None,
    },
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
    "total_discount_amounts": [],
    "total_taxes": [],
}
"""A new invoice's fields that do not depend on what it bills: Stripe's values for a draft."""

LINE_DEFAULTS: Obj = {
    "discount_amounts": [],
    "discountable": True,
    "discounts": [],
    "livemode": False,
    "metadata": {},
    "pretax_credit_amounts": [],
    "taxes": [],
}
"""An invoice line's fields that do not depend on what it bills."""


def _new_invoice(sb: Sandbox, sub: Obj, customer: Obj, reason: str) -> Obj:
    """A draft invoice for the subscription's current period (`invoice.created`)."""
    now = sb.store.now()
    inv_id = sb.store.new_id("in")
    lines = [_line(sb, inv_id, sub, item) for item in sub["items"]["data"]]
    total = sum(line["amount"] for line in lines)
    period = sub["items"]["data"][0]
    number = sb.store.next_number("invoice")
    invoice: Obj = {
        "id": inv_id,
        "object": "invoice",
        **copy.deepcopy(INVOICE_DEFAULTS),
        "amount_due": total,
        "amount_remaining": total,
        "billing_reason": reason,
        "created": now,
        "currency": sub["currency"],
        "customer": customer["id"],
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "hosted_invoice_url": sb.page_url(f"/invoices/{inv_id}"),
        "invoice_pdf": sb.page_url(f"/invoices/{inv_id}/pdf"),
        "lines": list_object(f"/v1/invoices/{inv_id}/lines", lines),
        "number": f"{customer['invoice_prefix']}-{number:04d}",
        "parent": {
            "quote_details": None,
            "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]},
            "type": "subscription_details",
        },
        "payments": list_object(f"/v1/invoice_payments?invoice={inv_id}", []),
        "period_end": period["current_period_end"],
        "period_start": period["current_period_start"],
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "total": total,
        "total_excluding_tax": total,
        "webhooks_delivered_at": now,
    }
    sb.store.add(invoice)
    sub["latest_invoice"] = inv_id
    sb.emit("invoice.created", invoice)
    return invoice


def _line(sb: Sandbox, inv_id: str, sub: Obj, item: Obj) -> Obj:
    """The invoice line billing one subscription item for its current period."""
    price = item["price"]
    amount = price["unit_amount"] * item["quantity"]
    product = sb.store.find(price["product"]) or {"name": "Subscription"}
    return {
        "id": sb.store.new_id("il"),
        "object": "line_item",
        **copy.deepcopy(LINE_DEFAULTS),
        "amount": amount,
        "currency": price["currency"],
        "description": f"{item['quantity']} × {product['name']}",
        "invoice": inv_id,
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
        "period": {"end": item["current_period_end"], "start": item["current_period_start"]},
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": str(price["unit_amount"]),
        },
        "quantity": item["quantity"],
        "subtotal": amount,
    }


def bill_first_period(sb: Sandbox, sub: Obj, customer: Obj, payment_method: Obj) -> Obj:
    """A new subscription's first invoice, paid with the card Checkout just authenticated.

    As with Stripe, the subscription becomes `active` once the invoice is paid, and its events
    say so in that order.
    """
    invoice = _new_invoice(sb, sub, customer, "subscription_create")
    _finalize(sb, invoice)
    pi = _invoice_payment_intent(sb, invoice, customer, payment_method)
    payment_intents.confirm_payment_intent(sb, pi, None, authenticated=True)
    _mark_paid(sb, invoice, pi)
    before = render(sub)
    sub["status"] = "active"
    subscriptions.emit_updated(sb, sub, before)
    return invoice


def _finalize(sb: Sandbox, invoice: Obj) -> None:
    now = sb.store.now()
    invoice.update(status="open", effective_at=now, ending_balance=0)
    invoice["status_transitions"]["finalized_at"] = now
    sb.emit("invoice.finalized", invoice)


def _invoice_payment_intent(sb: Sandbox, invoice: Obj, customer: Obj, pm: Obj) -> Obj:
    pi = payment_intents.create_payment_intent(
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
        payment_intents.confirm_payment_intent(sb, pi, None, off_session=True)
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
        subscriptions.emit_updated(sb, sub, before)
    return invoice


def _after_failed_attempt(sb: Sandbox, sub: Obj, invoice: Obj) -> None:
    before = render(sub)
    if invoice["attempt_count"] >= MAX_ATTEMPTS:
        invoice["next_payment_attempt"] = None
        invoice["status"] = "uncollectible"
        invoice["status_transitions"]["marked_uncollectible_at"] = sb.store.now()
        subscriptions.cancel_subscription(sb, sub)
        return
    sub["status"] = "past_due"
    subscriptions.emit_updated(sb, sub, before)


def renew_subscriptions(sb: Sandbox) -> None:
    """Bill every period the clock has passed, and retry open invoices that are due."""
    now = sb.store.now()
    for sub in sb.store.select("subscription", None):
        for _ in range(24):  # at most two years of months per tick
            if sub["status"] not in ("active", "past_due") or subscriptions.period_end(sub) > now:
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
        subscriptions.cancel_subscription(sb, sub)
        return
    for item in sub["items"]["data"]:
        start = item["current_period_end"]
        recurring = item["price"]["recurring"]
        item["current_period_start"] = start
        item["current_period_end"] = subscriptions.add_interval(
            start, recurring["interval"], recurring["interval_count"]
        )
    subscriptions.emit_updated(sb, sub, before)
    customer = sb.store.get(sub["customer"], "customer", None)
    invoice = _new_invoice(sb, sub, customer, "subscription_cycle")
    _finalize(sb, invoice)
    with contextlib.suppress(StripeError):  # recorded on the invoice and in events
        pay_invoice(sb, invoice)
