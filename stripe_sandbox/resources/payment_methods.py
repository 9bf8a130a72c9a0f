"""PaymentMethods: cards made from details or test tokens, attached to and detached from customers.

Promises: cards behave as Stripe's test cards (see cards.py) and the number itself is never kept;
an expired card, a bad month or a bad CVC is a `card_error` naming its field; a card attaches to
one customer only (`payment_method_unexpected_state`), and a card that declines on attach
(4000000000000341 aside) is refused there.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from .. import cards
from ..cards import Behaviour
from ..errors import StripeError, invalid_request, missing_param
from ..events import previous_of
from ..params import get_dict, get_int, get_str, merge_metadata
from ..store import Obj, render

if TYPE_CHECKING:
    from ..sandbox import Sandbox


CARD_DEFAULTS: Obj = {
    "allow_redisplay": "unspecified",
    "customer": None,
    "livemode": False,
    "type": "card",
}
"""A new card PaymentMethod's fields that the card's details do not decide."""


def card_payment_method(
    sb: Sandbox,
    account: str | None,
    *,
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str | None = None,
    name: str | None = None,
    email: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Obj:
    """A new PaymentMethod from card details; the number itself is not kept."""
    details = cards.inspect(number)
    exp_year = _check_expiry(sb, exp_month, exp_year)
    if cvc is not None and cvc != "" and not (cvc.isdigit() and 3 <= len(cvc) <= 4):
        raise cards.card_error("invalid_cvc", "Your card's security code is invalid.", param="cvc")
    pm: Obj = {
        "id": sb.store.new_id("pm"),
        "object": "payment_method",
        **CARD_DEFAULTS,
        "billing_details": {
            "address": dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state")),
            "email": email,
            "name": name,
            "phone": None,
            "tax_id": None,
        },
        "card": _card(details, exp_month, exp_year, cvc),
        "created": sb.store.now(),
        "metadata": metadata or {},
        "_behaviour": details.behaviour.value,
    }
    return sb.store.add(pm, account)


def _check_expiry(sb: Sandbox, exp_month: int, exp_year: int) -> int:
    """The four-digit expiry year, or Stripe's card error if the card has expired."""
    if not 1 <= exp_month <= 12:
        raise cards.card_error(
            "invalid_expiry_month", "Your card's expiration month is invalid.", param="exp_month"
        )
    if exp_year < 100:
        exp_year += 2000
    year, month = _year_month(sb.store.now())
    if (exp_year, exp_month) < (year, month):
        raise cards.card_error(
            "invalid_expiry_year", "Your card's expiration year is invalid.", param="exp_year"
        )
    return exp_year


def _card(details: cards.CardDetails, exp_month: int, exp_year: int, cvc: str | None) -> Obj:
    """A PaymentMethod's `card`: what Stripe shows of a card, never its number."""
    return {
        "brand": details.brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass" if cvc else None,
        },
        "country": "US",
        "display_brand": details.brand,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": details.fingerprint,
        "funding": "credit",
        "generated_from": None,
        "last4": details.last4,
        "networks": {"available": [details.brand], "preferred": None},
        "regulated_status": "unregulated",
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def _year_month(ts: int) -> tuple[int, int]:
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    return d.year, d.month


def create_payment_method(sb: Sandbox, p: dict[str, Any], account: str | None) -> Obj:
    if get_str(p, "type", required=True) != "card":
        raise invalid_request("The sandbox supports only type=card.", "type")
    card = get_dict(p, "card")
    if not card:
        raise missing_param("card")
    if "token" in card:
        return resolve_payment_method(sb, card["token"].replace("tok_", "pm_card_"), account)
    try:
        return card_payment_method(
            sb,
            account,
            number=get_str(card, "number", required=True) or "",
            exp_month=get_int(card, "exp_month", required=True) or 0,
            exp_year=get_int(card, "exp_year", required=True) or 0,
            cvc=get_str(card, "cvc"),
            name=get_str(get_dict(p, "billing_details"), "name"),
            email=get_str(get_dict(p, "billing_details"), "email"),
            metadata=merge_metadata({}, p.get("metadata")),
        )
    except StripeError as exc:
        if exc.param in {"number", "exp_month", "exp_year", "cvc"}:
            exc.param = f"card[{exc.param}]"
        raise


def resolve_payment_method(
    sb: Sandbox, pm_id: str, account: str | None, param: str = "payment_method"
) -> Obj:
    """The PaymentMethod `pm_id`, or a fresh one when `pm_id` is a test token like pm_card_visa."""
    if pm_id in cards.TEST_TOKENS:
        return card_payment_method(
            sb, account, number=cards.TEST_TOKENS[pm_id], exp_month=12, exp_year=2034, cvc="123"
        )
    return sb.store.get(pm_id, "payment_method", account, param)


def attach_payment_method(
    sb: Sandbox, pm: Obj, customer_id: str, account: str | None, check: bool = True
) -> Obj:
    customer = sb.store.get(customer_id, "customer", account, "customer")
    if pm["customer"] == customer["id"]:
        return pm
    if pm["customer"] is not None:
        raise invalid_request(
            "The payment method you provided has already been attached to a customer.",
            "payment_method",
            "payment_method_unexpected_state",
        )
    if check and (error := cards.attach_outcome(Behaviour(pm["_behaviour"]))) is not None:
        raise error
    pm["customer"] = customer["id"]
    sb.emit("payment_method.attached", pm, account)
    return pm


def detach_payment_method(sb: Sandbox, pm: Obj, account: str | None) -> Obj:
    if pm["customer"] is None:
        raise invalid_request(
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible.",
            "payment_method",
            "payment_method_unexpected_state",
        )
    customer = sb.store.find(pm["customer"])
    previous = previous_of(pm, "customer")
    pm["customer"] = None
    if customer and customer["invoice_settings"]["default_payment_method"] == pm["id"]:
        customer["invoice_settings"]["default_payment_method"] = None
    sb.emit("payment_method.detached", pm, account, previous)
    return pm


def card_summary(pm: Obj) -> Obj:
    card = pm["card"]
    return {
        "brand": card["brand"],
        "checks": card["checks"],
        "country": card["country"],
        "exp_month": card["exp_month"],
        "exp_year": card["exp_year"],
        "fingerprint": card["fingerprint"],
        "funding": card["funding"],
        "last4": card["last4"],
        "network": card["brand"],
        "three_d_secure": None,
        "wallet": None,
    }


def last_error(error: StripeError, pm: Obj, charge: str | None = None) -> Obj:
    body = error.body()["error"]
    last = {
        "code": body.get("code"),
        "decline_code": body.get("decline_code"),
        "doc_url": body.get("doc_url"),
        "message": body.get("message"),
        "payment_method": render(pm),
        "type": body["type"],
    }
    if charge:
        last["charge"] = charge
    return last
