"""Customers: created by API or by Checkout, with a default payment method for invoices.

Promises: `customer.created` and `customer.updated` (with the changed fields as
`previous_attributes`, and only when something changed); a default payment method must be
attached to the customer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import invalid_request
from ..events import changed_fields
from ..params import get_dict, get_str, merge_metadata
from ..store import Obj, render
from . import payment_methods

if TYPE_CHECKING:
    from ..sandbox import Sandbox


def create_customer(sb: Sandbox, p: dict[str, Any], account: str | None) -> Obj:
    customer: Obj = {
        "id": sb.store.new_id("cus", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": sb.store.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": get_str(p, "description"),
        "email": get_str(p, "email"),
        "invoice_prefix": sb.store.new_id("SBX", 6).replace("_", "").upper()[:8],
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": merge_metadata({}, p.get("metadata")),
        "name": get_str(p, "name"),
        "next_invoice_sequence": 1,
        "phone": get_str(p, "phone"),
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    sb.store.add(customer, account)
    if pm_id := get_str(p, "payment_method"):
        payment_methods.attach_payment_method(
            sb, payment_methods.resolve_payment_method(sb, pm_id, account), customer["id"], account
        )
    default = get_dict(p, "invoice_settings").get("default_payment_method")
    if default:
        _set_default_payment_method(sb, customer, default, account)
    sb.emit("customer.created", customer, account)
    return customer


def update_customer(sb: Sandbox, customer: Obj, p: dict[str, Any], account: str | None) -> Obj:
    before = render(customer)
    for key in ("email", "name", "description", "phone"):
        if key in p:
            customer[key] = get_str(p, key)
    customer["metadata"] = merge_metadata(customer["metadata"], p.get("metadata"))
    settings = p.get("invoice_settings")
    if isinstance(settings, dict) and "default_payment_method" in settings:
        _set_default_payment_method(sb, customer, settings["default_payment_method"], account)
    if previous := changed_fields(before, customer):
        sb.emit("customer.updated", customer, account, previous)
    return customer


def _set_default_payment_method(
    sb: Sandbox, customer: Obj, pm_id: str | None, account: str | None
) -> None:
    if not pm_id:
        customer["invoice_settings"]["default_payment_method"] = None
        return
    pm = sb.store.get(pm_id, "payment_method", account, "invoice_settings[default_payment_method]")
    if pm["customer"] != customer["id"]:
        raise invalid_request(
            f"The customer does not have a payment method with the ID {pm_id}. The payment method "
            "must be attached to the customer.",
            "invoice_settings[default_payment_method]",
            "resource_missing",
        )
    customer["invoice_settings"]["default_payment_method"] = pm_id
