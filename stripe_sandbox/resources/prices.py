"""Prices: one-off or recurring amounts of a product, listed by lookup key.

Promises: a price made inline (Checkout's `price_data`) announces nothing, as at Stripe; a
recurring price carries the legacy `plan` its subscription items show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import invalid_request, missing_param
from ..params import get_bool, get_choice, get_dict, get_int, get_str, merge_metadata
from ..store import Obj, paginate
from . import products

if TYPE_CHECKING:
    from ..sandbox import Sandbox


def create_price(sb: Sandbox, p: dict[str, Any], param_prefix: str = "") -> Obj:
    """A price from `price` create params or a Checkout line item's `price_data` (under
    `param_prefix`, without events: Stripe announces only the prices made by the API)."""
    announce = not param_prefix
    currency = (get_str(p, "currency") or "").lower()
    if not currency:
        raise missing_param(_name(param_prefix, "currency"))
    product = _product(sb, p, param_prefix)
    unit_amount = get_int(p, "unit_amount")
    if unit_amount is None or unit_amount < 0:
        raise missing_param(_name(param_prefix, "unit_amount"))
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
        price["recurring"] = _recurring(recurring)
    sb.store.add(price)
    if announce:
        sb.emit("price.created", price)
    return price


def _name(param_prefix: str, name: str) -> str:
    """A parameter's name as the request spelled it (`line_items[0][price_data][currency]`)."""
    return f"{param_prefix}[{name}]" if param_prefix else name


def _product(sb: Sandbox, p: dict[str, Any], param_prefix: str) -> Obj:
    """The product a price names, or the one its `product_data` makes (announced by API only)."""
    if product_id := get_str(p, "product"):
        return sb.store.get(product_id, "product", None, "product")
    if p.get("product_data"):
        return products.create_product(sb, get_dict(p, "product_data"), not param_prefix)
    raise missing_param(_name(param_prefix, "product"))


def _recurring(recurring: dict[str, Any]) -> Obj:
    interval = get_choice(recurring, "interval", ["day", "week", "month", "year"])
    if not interval:
        raise missing_param("recurring[interval]")
    return {
        "interval": interval,
        "interval_count": get_int(recurring, "interval_count", 1),
        "meter": None,
        "usage_type": "licensed",
    }


def legacy_plan(price: Obj) -> Obj:
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
