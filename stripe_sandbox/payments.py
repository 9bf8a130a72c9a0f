"""Customers, payment methods, setup and payment intents, charges, refunds and disputes.

Promises: cards behave as Stripe's test cards (see cards.py); a successful payment creates a
Charge with a balance transaction (Stripe's fee in `fee_details`); a destination charge
(`transfer_data[destination]`) also transfers the whole amount to the connected account and
collects the application fee back (transfers.py); refunds reverse the transfer and refund the
fee in proportion when asked, and a disputed charge cannot be refunded (`charge_disputed`);
every change emits its event.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from . import cards, disputes, ledger, transfers
from .cards import Behaviour
from .errors import StripeError, invalid_request, missing_param
from .events import previous_of
from .params import get_bool, get_choice, get_dict, get_int, get_str, merge_metadata
from .store import Obj, render

if TYPE_CHECKING:
    from .sandbox import Sandbox

MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "jpy": 50}
MAXIMUM_CHARGE = 99_999_999


# -- customers -----------------------------------------------------------------------------------
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
        attach_payment_method(
            sb, resolve_payment_method(sb, pm_id, account), customer["id"], account
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
    _emit_updated(sb, "customer.updated", customer, before, account)
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


def _emit_updated(sb: Sandbox, type_: str, obj: Obj, before: Obj, account: str | None) -> None:
    after = render(obj)
    previous = {k: v for k, v in before.items() if after.get(k) != v}
    if previous:
        sb.emit(type_, obj, account, previous)


# -- payment methods -----------------------------------------------------------------------------
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
    if cvc is not None and cvc != "" and not (cvc.isdigit() and 3 <= len(cvc) <= 4):
        raise cards.card_error("invalid_cvc", "Your card's security code is invalid.", param="cvc")
    pm: Obj = {
        "id": sb.store.new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": {
                "city": None,
                "country": None,
                "line1": None,
                "line2": None,
                "postal_code": None,
                "state": None,
            },
            "email": email,
            "name": name,
            "phone": None,
            "tax_id": None,
        },
        "card": {
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
        },
        "created": sb.store.now(),
        "customer": None,
        "livemode": False,
        "metadata": metadata or {},
        "type": "card",
        "_behaviour": details.behaviour.value,
    }
    return sb.store.add(pm, account)


def _year_month(ts: int) -> tuple[int, int]:
    import datetime as dt

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


# -- setup intents -------------------------------------------------------------------------------
def create_setup_intent(sb: Sandbox, p: dict[str, Any], account: str | None) -> Obj:
    seti_id = sb.store.new_id("seti")
    customer = get_str(p, "customer")
    if customer:
        sb.store.get(customer, "customer", account, "customer")
    pm_id = get_str(p, "payment_method")
    pm = resolve_payment_method(sb, pm_id, account) if pm_id else None
    seti: Obj = {
        "id": seti_id,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": f"{seti_id}_secret_{sb.store.new_id('x')[2:]}",
        "created": sb.store.now(),
        "customer": customer,
        "description": get_str(p, "description"),
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": merge_metadata({}, p.get("metadata")),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": pm["id"] if pm else None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "single_use_mandate": None,
        "status": "requires_confirmation" if pm else "requires_payment_method",
        "usage": get_choice(p, "usage", ["off_session", "on_session"], "off_session"),
    }
    sb.store.add(seti, account)
    sb.emit("setup_intent.created", seti, account)
    if get_bool(p, "confirm"):
        confirm_setup_intent(sb, seti, {}, account)
    return seti


def confirm_setup_intent(sb: Sandbox, seti: Obj, p: dict[str, Any], account: str | None) -> Obj:
    if seti["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise invalid_request(
            f"You cannot confirm this SetupIntent because it has a status of {seti['status']}.",
            None,
            "setup_intent_unexpected_state",
        )
    if pm_id := get_str(p, "payment_method"):
        seti["payment_method"] = resolve_payment_method(sb, pm_id, account)["id"]
    if not seti["payment_method"]:
        raise invalid_request(
            "You cannot confirm this SetupIntent because it's missing a payment method.",
            "payment_method",
            "setup_intent_unexpected_state",
        )
    pm = sb.store.get(seti["payment_method"], "payment_method", account, "payment_method")
    error = cards.attach_outcome(Behaviour(pm["_behaviour"]))
    if error is not None:
        seti["status"] = "requires_payment_method"
        seti["payment_method"] = None
        seti["last_setup_error"] = _last_error(error, pm)
        sb.emit("setup_intent.setup_failed", seti, account)
        error.extra["setup_intent"] = render(seti)
        raise error
    if seti["customer"]:
        attach_payment_method(sb, pm, seti["customer"], account, check=False)
    seti["status"] = "succeeded"
    seti["last_setup_error"] = None
    sb.emit("setup_intent.succeeded", seti, account)
    return seti


def _last_error(error: StripeError, pm: Obj, charge: str | None = None) -> Obj:
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


# -- payment intents -----------------------------------------------------------------------------
def check_amount(amount: int | None, currency: str, param: str = "amount") -> int:
    if amount is None:
        raise missing_param(param)
    minimum = MINIMUM_CHARGE.get(currency, 50)
    if amount < minimum:
        raise invalid_request(
            f"Amount must be at least {minimum} {currency} (in the smallest currency unit).",
            param,
            "amount_too_small",
        )
    if amount > MAXIMUM_CHARGE:
        raise invalid_request(
            f"Amount must be no more than {MAXIMUM_CHARGE} {currency}.", param, "amount_too_large"
        )
    return amount


def check_destination(sb: Sandbox, destination: str, param: str) -> Obj:
    """The connected account money can be sent to, or Stripe's error saying why not."""
    acct = sb.store.find(destination)
    if acct is None or acct.get("object") != "account" or sb.store.owner[destination] is not None:
        raise invalid_request(f"No such destination: '{destination}'", param, "resource_missing")
    if acct["capabilities"].get("transfers") != "active":
        raise invalid_request(
            "Your destination account needs to have at least one of the following capabilities "
            "enabled: transfers, crypto_transfers, legacy_payments",
            param,
            "insufficient_capabilities_for_transfer",
        )
    return acct


def create_payment_intent(sb: Sandbox, p: dict[str, Any], account: str | None) -> Obj:
    currency = (get_str(p, "currency", required=True) or "").lower()
    amount = check_amount(get_int(p, "amount"), currency)
    fee = get_int(p, "application_fee_amount")
    transfer = get_dict(p, "transfer_data")
    destination = get_str(transfer, "destination") if transfer else None
    if transfer and not destination:
        raise missing_param("transfer_data[destination]")
    if destination:
        check_destination(sb, destination, "transfer_data[destination]")
    if fee is not None and (fee < 0 or fee > amount):
        raise invalid_request(
            "The application fee amount cannot be greater than the amount.",
            "application_fee_amount",
        )
    if fee is not None and destination is None and account is None:
        raise invalid_request(
            "Can only apply an application_fee_amount when the PaymentIntent is attempting a "
            "direct payment (using an OAuth key or Stripe-Account header) or destination payment "
            "(using `transfer_data[destination]`).",
            "application_fee_amount",
        )
    customer = get_str(p, "customer")
    if customer:
        sb.store.get(customer, "customer", account, "customer")
    off_session = get_bool(p, "off_session") or p.get("off_session") in ("one_off", "recurring")
    confirm = get_bool(p, "confirm")
    if off_session and not confirm:
        raise invalid_request(
            "You can only use `off_session` when `confirm` is true.", "off_session"
        )
    pm_id = get_str(p, "payment_method")
    pm = resolve_payment_method(sb, pm_id, account) if pm_id else None
    pi_id = sb.store.new_id("pi")
    pi: Obj = {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": fee,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{pi_id}_secret_{sb.store.new_id('x')[2:]}",
        "confirmation_method": "automatic",
        "created": sb.store.now(),
        "currency": currency,
        "customer": customer,
        "description": get_str(p, "description"),
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": merge_metadata({}, p.get("metadata")),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": pm["id"] if pm else None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": get_str(p, "receipt_email"),
        "review": None,
        "setup_future_usage": get_choice(p, "setup_future_usage", ["off_session", "on_session"]),
        "shipping": None,
        "statement_descriptor": get_str(p, "statement_descriptor"),
        "statement_descriptor_suffix": get_str(p, "statement_descriptor_suffix"),
        "status": "requires_confirmation" if pm else "requires_payment_method",
        "transfer_data": {"destination": destination} if destination else None,
        "transfer_group": f"group_{pi_id}" if destination else get_str(p, "transfer_group"),
        "_return_url": get_str(p, "return_url"),
    }
    sb.store.add(pi, account)
    sb.emit("payment_intent.created", pi, account)
    if confirm:
        confirm_payment_intent(sb, pi, account, off_session=off_session)
    return pi


def confirm_payment_intent(
    sb: Sandbox,
    pi: Obj,
    account: str | None,
    *,
    payment_method: str | None = None,
    off_session: bool = False,
    authenticated: bool = False,
    return_url: str | None = None,
) -> Obj:
    """Charge the intent's card; raises the card error (after recording it) when it declines."""
    if pi["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
        raise invalid_request(
            f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}.",
            None,
            "payment_intent_unexpected_state",
        )
    if payment_method:
        pi["payment_method"] = resolve_payment_method(sb, payment_method, account)["id"]
    if return_url:
        pi["_return_url"] = return_url
    if not pi["payment_method"]:
        raise invalid_request(
            "You cannot confirm this PaymentIntent because it's missing a payment method. "
            "Update it with a payment method and then confirm it again.",
            "payment_method",
            "payment_intent_unexpected_state",
        )
    pm = sb.store.get(pi["payment_method"], "payment_method", account, "payment_method")
    if pm["customer"] is not None and pm["customer"] != pi["customer"]:
        raise invalid_request(
            f"The provided PaymentMethod belongs to a Customer; pass customer={pm['customer']} "
            "to use it.",
            "payment_method",
        )
    if off_session and not pi["customer"]:
        raise invalid_request(
            "off_session payments need a customer with a saved payment method.", "customer"
        )
    outcome = cards.charge_outcome(
        Behaviour(pm["_behaviour"]), off_session=off_session, authenticated=authenticated
    )
    if isinstance(outcome, StripeError):
        _fail_payment(sb, pi, pm, outcome, account)
    if outcome == "requires_action":
        pi["status"] = "requires_action"
        pi["next_action"] = {
            "type": "redirect_to_url",
            "redirect_to_url": {
                "return_url": pi.get("_return_url"),
                "url": sb.page_url(f"/authenticate/{pi['id']}"),
            },
        }
        sb.emit("payment_intent.requires_action", pi, account)
        return pi
    return succeed_payment(sb, pi, pm, account)


def _fail_payment(sb: Sandbox, pi: Obj, pm: Obj, error: StripeError, account: str | None) -> None:
    charge = _new_charge(sb, pi, pm, account, failed_with=error)
    previous = previous_of(pi, "status", "last_payment_error", "latest_charge")
    pi["status"] = "requires_payment_method"
    pi["payment_method"] = None
    pi["next_action"] = None
    pi["latest_charge"] = charge["id"]
    pi["last_payment_error"] = _last_error(error, pm, charge["id"])
    sb.emit("charge.failed", charge, account)
    sb.emit("payment_intent.payment_failed", pi, account, previous)
    error.extra.update(charge=charge["id"], payment_intent=render(pi), payment_method=render(pm))
    raise error


def _new_charge(
    sb: Sandbox, pi: Obj, pm: Obj, account: str | None, failed_with: StripeError | None = None
) -> Obj:
    ok = failed_with is None
    body = failed_with.body()["error"] if failed_with else {}
    charge: Obj = {
        "id": sb.store.new_id("ch"),
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": pi["amount"] if ok else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": pi["application_fee_amount"],
        "balance_transaction": None,
        "billing_details": pm["billing_details"],
        "calculated_statement_descriptor": "SANDBOX",
        "captured": ok,
        "created": sb.store.now(),
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": body.get("code"),
        "failure_message": body.get("message"),
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": None,
        "outcome": {
            "network_status": "approved_by_network" if ok else "declined_by_network",
            "reason": None if ok else body.get("decline_code"),
            "risk_level": "normal",
            "seller_message": "Payment complete." if ok else "The bank declined the payment.",
            "type": "authorized" if ok else "issuer_declined",
        },
        "paid": ok,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {"card": card_summary(pm), "type": "card"},
        "receipt_email": pi["receipt_email"],
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if ok else "failed",
        "transfer": None,
        "transfer_data": pi["transfer_data"],
        "transfer_group": pi["transfer_group"],
    }
    if ok:
        charge["receipt_url"] = sb.page_url(f"/receipts/{charge['id']}")
    return sb.store.add(charge, account)


def succeed_payment(sb: Sandbox, pi: Obj, pm: Obj, account: str | None) -> Obj:
    charge = _new_charge(sb, pi, pm, account)
    currency, fee_amount = pi["currency"], pi["application_fee_amount"] or 0
    available_on = sb.store.now() + sb.config.available_after
    stripe_fee = ledger.stripe_fee(pi["amount"], currency)
    fees = [ledger.fee_detail(stripe_fee, currency, "stripe_fee", "Stripe processing fees")]
    direct_fee = bool(fee_amount and account is not None and not pi["transfer_data"])
    if direct_fee:
        fees.append(ledger.fee_detail(fee_amount, currency, "application_fee", "Application fee"))
    charge["balance_transaction"] = ledger.record(
        sb,
        account,
        amount=pi["amount"],
        currency=currency,
        type_="charge",
        source=charge["id"],
        fee_details=fees,
        available_on=available_on,
    )["id"]
    announce: list[Obj] = []
    if pi["transfer_data"]:
        announce = transfers.pay_destination(sb, pi, charge, available_on)
    elif direct_fee and account is not None:
        fee = transfers.application_fee(sb, charge, account, fee_amount, available_on)
        charge["application_fee"] = fee["id"]
        announce = [fee]
    previous = previous_of(pi, "status", "amount_received", "latest_charge")
    pi.update(
        status="succeeded",
        amount_received=pi["amount"],
        latest_charge=charge["id"],
        payment_method=pm["id"],
        last_payment_error=None,
        next_action=None,
    )
    if pi["setup_future_usage"] and pi["customer"] and pm["customer"] is None:
        attach_payment_method(sb, pm, pi["customer"], account, check=False)
    # Stripe attaches the balance transaction a moment after the charge succeeds.
    sb.emit("charge.succeeded", {**charge, "balance_transaction": None}, account)
    sb.emit("payment_intent.succeeded", pi, account, previous)
    for obj in announce:
        if obj["object"] == "transfer":
            sb.emit("transfer.created", obj)
            # The connected account's own payment, on its endpoint.
            payment = sb.store.get(
                obj["destination_payment"], "charge", obj["destination"], "destination_payment"
            )
            sb.emit("charge.succeeded", payment, obj["destination"])
        else:
            sb.emit("application_fee.created", obj)
    sb.emit("charge.updated", charge, account, {"balance_transaction": None})
    if pm["_behaviour"] == Behaviour.DISPUTE.value:
        disputes.open_dispute(sb, charge, account)
    return pi


def cancel_payment_intent(sb: Sandbox, pi: Obj, p: dict[str, Any], account: str | None) -> Obj:
    if pi["status"] in ("succeeded", "canceled"):
        raise invalid_request(
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. "
            "Only a PaymentIntent with one of the following statuses may be canceled: "
            "requires_payment_method, requires_capture, requires_confirmation, requires_action, "
            "processing.",
            None,
            "payment_intent_unexpected_state",
        )
    previous = previous_of(pi, "status", "canceled_at", "cancellation_reason")
    pi["status"] = "canceled"
    pi["canceled_at"] = sb.store.now()
    pi["cancellation_reason"] = get_str(p, "cancellation_reason")
    pi["next_action"] = None
    sb.emit("payment_intent.canceled", pi, account, previous)
    return pi


def finish_authentication(sb: Sandbox, pi: Obj, account: str | None, approve: bool) -> Obj:
    """The hosted 3-D Secure page's answer for a PaymentIntent in requires_action."""
    pm = sb.store.get(pi["payment_method"], "payment_method", account)
    if approve:
        return succeed_payment(sb, pi, pm, account)
    error = cards.card_error(
        "payment_intent_authentication_failure",
        "The provided PaymentMethod has failed authentication.",
    )
    with contextlib.suppress(StripeError):  # the page shows the intent's new state
        _fail_payment(sb, pi, pm, error, account)
    return pi


# -- refunds -------------------------------------------------------------------------------------
def create_refund(sb: Sandbox, p: dict[str, Any], account: str | None) -> Obj:
    """Refund a charge (all that is left by default); on a destination charge, reverse the
    transfer and refund the application fee in proportion when asked (see transfers.py)."""
    charge = _charge_to_refund(sb, p, account)
    remaining = charge["amount"] - charge["amount_refunded"]
    amount = get_int(p, "amount", remaining) or 0
    if amount <= 0:
        raise invalid_request("Invalid positive integer", "amount")
    if amount > remaining:
        raise invalid_request(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            "amount",
            "amount_too_large",
        )
    reverse_transfer = get_bool(p, "reverse_transfer")
    refund_application_fee = get_bool(p, "refund_application_fee")
    reason = get_choice(p, "reason", ["duplicate", "fraudulent", "requested_by_customer"])
    refund_id = sb.store.new_id("re")
    refund: Obj = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": ledger.record(
            sb,
            account,
            amount=-amount,
            currency=charge["currency"],
            type_="refund",
            source=refund_id,
        )["id"],
        "charge": charge["id"],
        "created": sb.store.now(),
        "currency": charge["currency"],
        "destination_details": {
            "card": {"reference_status": "pending", "type": "refund"},
            "type": "card",
        },
        "metadata": merge_metadata({}, p.get("metadata")),
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    sb.store.add(refund, account)
    if reverse_transfer and charge["transfer"]:
        transfer = sb.store.get(charge["transfer"], "transfer", None)
        part = transfers.share_of_refund(
            transfer["amount"], transfer["amount_reversed"], amount, charge
        )
        if part > 0:
            reversal = transfers.reverse(sb, transfer, part, source_refund=refund_id)
            refund["transfer_reversal"] = reversal["id"]
    if refund_application_fee and charge["application_fee"]:
        fee = sb.store.get(charge["application_fee"], "application_fee", None)
        part = transfers.share_of_refund(fee["amount"], fee["amount_refunded"], amount, charge)
        if part > 0:
            transfers.refund_fee(sb, fee, part)
    previous = previous_of(charge, "amount_refunded", "refunded")
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    sb.emit("refund.created", refund, account)
    sb.emit("charge.refunded", charge, account, previous)
    return refund


def _charge_to_refund(sb: Sandbox, p: dict[str, Any], account: str | None) -> Obj:
    """The charge a refund names (directly or through its PaymentIntent), if it can be refunded."""
    charge_id = get_str(p, "charge")
    pi_id = get_str(p, "payment_intent")
    if not charge_id and not pi_id:
        raise missing_param("charge")
    if pi_id:
        pi = sb.store.get(pi_id, "payment_intent", account, "payment_intent")
        if pi["status"] != "succeeded" or not pi["latest_charge"]:
            raise invalid_request(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                "payment_intent",
                "charge_already_refunded" if pi["status"] == "succeeded" else None,
            )
        charge_id = pi["latest_charge"]
    charge = sb.store.get(charge_id or "", "charge", account, "charge")
    if disputes.blocks_refund(sb, charge):
        raise invalid_request(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            None,
            "charge_disputed",
        )
    if charge["amount_refunded"] >= charge["amount"]:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.", None, "charge_already_refunded"
        )
    return charge
