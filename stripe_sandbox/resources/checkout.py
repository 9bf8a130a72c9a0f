"""Checkout Sessions in payment, setup and subscription modes, and their hosted completion.

Promises: a session is `open` until the hosted page completes it (`complete`, then
`checkout.session.completed` after the objects it created) or it expires (`expired`,
`checkout.session.expired`, by API call or when the clock passes `expires_at`). A declined card
leaves the session open, records the failed PaymentIntent and emits
`payment_intent.payment_failed`. The PaymentIntent is created on the first attempt, as on Stripe.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .. import cards
from ..cards import Behaviour
from ..errors import StripeError, invalid_request, missing_param
from ..events import previous_of
from ..params import get_choice, get_dict, get_int, get_str, merge_metadata
from ..store import Obj, list_object, render
from . import (
    customers,
    invoices,
    payment_intents,
    payment_methods,
    prices,
    setup_intents,
    subscriptions,
)

if TYPE_CHECKING:
    from ..sandbox import Sandbox

DEFAULT_LIFETIME = 24 * 3600


SESSION_DEFAULTS: Obj = {
    "after_expiration": None,
    "allow_promotion_codes": None,
    "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
    "billing_address_collection": None,
    "client_secret": None,
    "consent": None,
    "consent_collection": None,
    "custom_fields": [],
    "custom_text": {
        "after_submit": None,
        "shipping_address": None,
        "submit": None,
        "terms_of_service_acceptance": None,
    },
    "customer_details": None,
    "invoice": None,
    "invoice_creation": None,
    "livemode": False,
    "payment_intent": None,
    "payment_link": None,
    "payment_method_collection": "always",
    "payment_method_options": {},
    "payment_method_types": ["card"],
    "phone_number_collection": {"enabled": False},
    "recovered_from": None,
    "saved_payment_method_options": None,
    "setup_intent": None,
    "shipping_address_collection": None,
    "shipping_cost": None,
    "shipping_options": [],
    "status": "open",
    "subscription": None,
    "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
    "ui_mode": "hosted_page",
}
"""A new session's fields that the request does not decide: Stripe's values for an open one."""


def create_session(sb: Sandbox, p: dict[str, Any], account: str | None) -> Obj:
    mode = get_choice(p, "mode", ["payment", "setup", "subscription"])
    if mode is None:
        raise missing_param("mode")
    expires_at = _expires_at(sb, p)
    if not get_str(p, "success_url"):
        raise missing_param("success_url")
    customer_id = _customer_id(sb, p, account)
    line_items = _line_items(sb, p, mode)
    amount, currency = _amount_and_currency(p, mode, line_items)
    intent_data = _intent_data(sb, p, mode, amount, currency)
    session_id = sb.store.new_id("cs_test", 58)
    session: Obj = {
        "id": session_id,
        "object": "checkout.session",
        **copy.deepcopy(SESSION_DEFAULTS),
        "amount_subtotal": amount if mode != "setup" else None,
        "amount_total": amount if mode != "setup" else None,
        "cancel_url": get_str(p, "cancel_url"),
        "client_reference_id": get_str(p, "client_reference_id"),
        "created": sb.store.now(),
        "currency": currency or None,
        "customer": customer_id,
        "customer_creation": None if customer_id else "if_required",
        "customer_email": get_str(p, "customer_email"),
        "expires_at": expires_at,
        "locale": get_str(p, "locale"),
        "metadata": merge_metadata({}, p.get("metadata")),
        "mode": mode,
        "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
        "submit_type": get_str(p, "submit_type"),
        "success_url": get_str(p, "success_url"),
        "url": sb.page_url(f"/checkout/pay/{session_id}"),
        "_line_items": line_items,
        "_intent_data": intent_data,
        "_subscription_metadata": merge_metadata(
            {}, get_dict(p, "subscription_data").get("metadata")
        ),
        "_account": account,
    }
    if mode == "setup":
        session["setup_intent"] = _setup_intent(sb, p, customer_id, account)["id"]
    return sb.store.add(session, account)


def _intent_data(
    sb: Sandbox, p: dict[str, Any], mode: str, amount: int, currency: str
) -> dict[str, Any]:
    """`payment_intent_data` (payment mode only), checked with the amount it will charge."""
    intent_data = get_dict(p, "payment_intent_data")
    if intent_data and mode != "payment":
        raise invalid_request(
            "You can only specify `payment_intent_data` in `payment` mode.", "payment_intent_data"
        )
    if mode == "payment":
        payment_intents.check_amount(amount, currency, "line_items")
        _check_intent_data(sb, intent_data, amount)
    return intent_data


def _setup_intent(
    sb: Sandbox, p: dict[str, Any], customer_id: str | None, account: str | None
) -> Obj:
    """A setup-mode session's SetupIntent, made with the session as Stripe does."""
    metadata = get_dict(p, "setup_intent_data").get("metadata")
    return setup_intents.create_setup_intent(
        sb, {"customer": customer_id, "metadata": metadata}, account
    )


def _expires_at(sb: Sandbox, p: dict[str, Any]) -> int:
    now = sb.store.now()
    expires_at = get_int(p, "expires_at", now + DEFAULT_LIFETIME) or 0
    if not now + 1800 <= expires_at <= now + DEFAULT_LIFETIME:
        raise invalid_request(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from now.",
            "expires_at",
        )
    return expires_at


def _customer_id(sb: Sandbox, p: dict[str, Any], account: str | None) -> str | None:
    """The existing customer the session is for, if it names one (and no email beside it)."""
    customer_id = get_str(p, "customer")
    if customer_id:
        sb.store.get(customer_id, "customer", account, "customer")
    if customer_id and get_str(p, "customer_email"):
        raise invalid_request(
            "You may only specify one of these parameters: customer, customer_email.",
            "customer_email",
        )
    return customer_id


def _amount_and_currency(p: dict[str, Any], mode: str, line_items: list[Obj]) -> tuple[int, str]:
    amount = sum(item["amount_total"] for item in line_items)
    currency = line_items[0]["currency"] if line_items else (get_str(p, "currency") or "").lower()
    if mode == "setup" and line_items:
        raise invalid_request("You cannot pass `line_items` in `setup` mode.", "line_items")
    if mode != "setup" and any(item["currency"] != currency for item in line_items):
        raise invalid_request("All line items must share one currency.", "line_items")
    return amount, currency


def _check_intent_data(sb: Sandbox, data: dict[str, Any], amount: int) -> None:
    fee = get_int(data, "application_fee_amount")
    destination = get_str(get_dict(data, "transfer_data"), "destination")
    if destination:
        payment_intents.check_destination(
            sb, destination, "payment_intent_data[transfer_data][destination]"
        )
    if fee is not None and not 0 <= fee <= amount:
        raise invalid_request(
            "The application fee amount cannot be greater than the amount.",
            "payment_intent_data[application_fee_amount]",
        )
    get_choice(data, "setup_future_usage", ["off_session", "on_session"])


def _line_items(sb: Sandbox, p: dict[str, Any], mode: str) -> list[Obj]:
    raw = p.get("line_items") or []
    if not isinstance(raw, list):
        raise invalid_request("Invalid array", "line_items")
    if mode != "setup" and not raw:
        raise missing_param("line_items")
    items = []
    for i, entry in enumerate(raw):
        param = f"line_items[{i}]"
        if get_str(entry, "price"):
            price = sb.store.get(entry["price"], "price", None, f"{param}[price]")
        elif entry.get("price_data"):
            price = prices.create_price(sb, get_dict(entry, "price_data"), f"{param}[price_data]")
        else:
            raise missing_param(f"{param}[price]")
        if mode == "payment" and price["recurring"]:
            raise invalid_request(
                "You must use `subscription` mode for recurring prices.", f"{param}[price]"
            )
        if mode == "subscription" and not price["recurring"]:
            raise invalid_request("`subscription` mode needs recurring prices.", f"{param}[price]")
        quantity = get_int(entry, "quantity", 1) or 1
        product = sb.store.find(price["product"]) or {"name": ""}
        total = price["unit_amount"] * quantity
        items.append(
            {
                "id": sb.store.new_id("li"),
                "object": "item",
                "amount_discount": 0,
                "amount_subtotal": total,
                "amount_tax": 0,
                "amount_total": total,
                "currency": price["currency"],
                "description": product["name"],
                "metadata": {},
                "price": render(price),
                "quantity": quantity,
            }
        )
    return items


def line_items_list(session: Obj) -> Obj:
    return list_object(
        f"/v1/checkout/sessions/{session['id']}/line_items", render(session["_line_items"])
    )


def expire_session(sb: Sandbox, session: Obj) -> Obj:
    if session["status"] != "open":
        raise invalid_request(
            f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
            f'Session has a status of "{session["status"]}".',
            None,
        )
    session["status"] = "expired"
    session["url"] = None
    sb.emit("checkout.session.expired", session, session["_account"])
    return session


def expire_sessions(sb: Sandbox) -> None:
    now = sb.store.now()
    with sb.store.lock:
        for obj in list(sb.store.objects.values()):
            if (
                obj.get("object") == "checkout.session"
                and obj["status"] == "open"
                and obj["expires_at"] <= now
            ):
                expire_session(sb, obj)


# -- hosted completion ---------------------------------------------------------------------------
def complete_session(sb: Sandbox, session: Obj, form: dict[str, str]) -> str:
    """Pay (or save, or subscribe) with the card typed into the hosted page.

    Returns the URL to redirect to; raises StripeError (card or input problem) to re-render.
    """
    if session["status"] != "open":
        raise invalid_request(f"This Checkout Session is {session['status']}.", None)
    account = session["_account"]
    exp_month, exp_year = _expiry(form.get("expiry", ""))
    email = form.get("email", "").strip() or session["customer_email"]
    name = form.get("name", "").strip() or None
    pm = payment_methods.card_payment_method(
        sb,
        account,
        number=form.get("number", ""),
        exp_month=exp_month,
        exp_year=exp_year,
        cvc=form.get("cvc", "").strip(),
        name=name,
        email=email,
    )
    mode = session["mode"]
    customer = _customer_for(sb, session, email, name, account, create=mode != "payment")
    if mode == "payment":
        _complete_payment(sb, session, pm, customer, email, name, account)
    elif mode == "setup":
        _complete_setup(sb, session, pm, customer, account)
    else:
        _complete_subscription(sb, session, pm, customer, account)
    customer = sb.store.find(session["customer"]) if session["customer"] else None
    session["customer_details"] = {
        "address": None,
        "business_name": None,
        "email": (customer or {}).get("email") or email,
        "individual_name": None,
        "name": (customer or {}).get("name") or name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
    previous = previous_of(session, "status", "payment_status")
    session["status"] = "complete"
    if mode != "setup":
        session["payment_status"] = "paid"
    session["url"] = None
    sb.emit("checkout.session.completed", session, account, previous)
    return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])


def _expiry(value: str) -> tuple[int, int]:
    try:
        month_text, year_text = value.replace(" ", "").split("/")
        return int(month_text), int(year_text)
    except ValueError:
        raise cards.card_error(
            "invalid_expiry_month", "Enter the expiry date as MM/YY.", param="exp_month"
        ) from None


def _customer_for(
    sb: Sandbox,
    session: Obj,
    email: str | None,
    name: str | None,
    account: str | None,
    create: bool,
) -> Obj | None:
    if session["customer"]:
        return sb.store.get(session["customer"], "customer", account)
    if not create:
        return None
    customer = customers.create_customer(sb, {"email": email, "name": name}, account)
    session["customer"] = customer["id"]
    return customer


def _complete_payment(
    sb: Sandbox,
    session: Obj,
    pm: Obj,
    customer: Obj | None,
    email: str | None,
    name: str | None,
    account: str | None,
) -> None:
    data = session["_intent_data"]
    if data.get("setup_future_usage") and customer is None:
        customer = _customer_for(sb, session, email, name, account, create=True)
    if session["payment_intent"]:
        pi = sb.store.get(session["payment_intent"], "payment_intent", account)
    else:
        params: dict[str, Any] = {
            "amount": session["amount_total"],
            "currency": session["currency"],
            "customer": customer["id"] if customer else None,
            "metadata": data.get("metadata"),
            "description": data.get("description"),
            "setup_future_usage": data.get("setup_future_usage"),
            "application_fee_amount": data.get("application_fee_amount"),
            "transfer_data": data.get("transfer_data"),
            "receipt_email": data.get("receipt_email"),
        }
        pi = payment_intents.create_payment_intent(
            sb, {k: v for k, v in params.items() if v is not None}, account
        )
        session["payment_intent"] = pi["id"]
    payment_intents.confirm_payment_intent(
        sb, pi, account, payment_method=pm["id"], authenticated=True
    )


def _complete_setup(
    sb: Sandbox, session: Obj, pm: Obj, customer: Obj | None, account: str | None
) -> None:
    seti = sb.store.get(session["setup_intent"], "setup_intent", account)
    if customer is not None and not seti["customer"]:
        seti["customer"] = customer["id"]
    setup_intents.confirm_setup_intent(sb, seti, {"payment_method": pm["id"]}, account)


def _complete_subscription(
    sb: Sandbox, session: Obj, pm: Obj, customer: Obj | None, account: str | None
) -> None:
    assert customer is not None
    behaviour = Behaviour(pm["_behaviour"])
    outcome = cards.charge_outcome(behaviour, off_session=False, authenticated=True)
    if isinstance(outcome, StripeError):
        # Stripe refuses the subscription; the failed first payment is still recorded.
        payment_intents.create_payment_intent(
            sb,
            {
                "amount": session["amount_total"],
                "currency": session["currency"],
                "customer": customer["id"],
                "payment_method": pm["id"],
                "confirm": "true",
                "description": "Subscription creation",
            },
            account,
        )
    payment_methods.attach_payment_method(sb, pm, customer["id"], account)
    prices = [
        (sb.store.get(item["price"]["id"], "price", None), item["quantity"])
        for item in session["_line_items"]
    ]
    sub = subscriptions.create_subscription(
        sb, customer, prices, pm, dict(session["_subscription_metadata"])
    )
    invoice = invoices.bill_first_period(sb, sub, customer, pm)
    session["subscription"] = sub["id"]
    session["invoice"] = invoice["id"]
