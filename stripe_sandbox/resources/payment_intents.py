"""PaymentIntents: taking a card payment, on the API, the hosted Checkout page or an invoice.

Promises: cards behave as Stripe's test cards (see cards.py); a successful payment creates a
Charge (charges.py) with a balance transaction (Stripe's fee in `fee_details`); a destination
charge (`transfer_data[destination]`) also transfers the whole amount to the connected account
and collects the application fee back (transfers.py); a card that needs authentication waits in
`requires_action` for the sandbox's 3-D Secure page; a decline records a failed charge and
raises the card error; every change emits its event.
"""

from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING, Any

from .. import cards
from ..cards import Behaviour
from ..errors import StripeError, invalid_request, missing_param
from ..events import previous_of
from ..params import get_bool, get_choice, get_dict, get_int, get_str, merge_metadata
from ..store import Obj, render
from . import application_fees, balance, charges, disputes, payment_methods, transfers

if TYPE_CHECKING:
    from ..sandbox import Sandbox

MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "jpy": 50}
MAXIMUM_CHARGE = 99_999_999


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


def _destination(sb: Sandbox, p: dict[str, Any]) -> str | None:
    """The connected account a destination charge pays (`transfer_data[destination]`), if any."""
    transfer = get_dict(p, "transfer_data")
    destination = get_str(transfer, "destination") if transfer else None
    if transfer and not destination:
        raise missing_param("transfer_data[destination]")
    if destination:
        check_destination(sb, destination, "transfer_data[destination]")
    return destination


def _application_fee_amount(
    p: dict[str, Any], amount: int, destination: str | None, account: str | None
) -> int | None:
    fee = get_int(p, "application_fee_amount")
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
    return fee


PAYMENT_INTENT_DEFAULTS: Obj = {
    "amount_capturable": 0,
    "amount_details": {"tip": {}},
    "amount_received": 0,
    "application": None,
    "automatic_payment_methods": None,
    "canceled_at": None,
    "cancellation_reason": None,
    "capture_method": "automatic",
    "confirmation_method": "automatic",
    "last_payment_error": None,
    "latest_charge": None,
    "livemode": False,
    "next_action": None,
    "on_behalf_of": None,
    "payment_method_configuration_details": None,
    "payment_method_options": {},
    "payment_method_types": ["card"],
    "processing": None,
    "review": None,
    "shipping": None,
}
"""A new PaymentIntent's fields that the request does not decide: Stripe's values before it is
confirmed (automatic capture and confirmation, cards only)."""


def create_payment_intent(sb: Sandbox, p: dict[str, Any], account: str | None) -> Obj:
    currency = (get_str(p, "currency", required=True) or "").lower()
    amount = check_amount(get_int(p, "amount"), currency)
    destination = _destination(sb, p)
    fee = _application_fee_amount(p, amount, destination, account)
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
    pm = payment_methods.resolve_payment_method(sb, pm_id, account) if pm_id else None
    pi_id = sb.store.new_id("pi")
    pi: Obj = {
        "id": pi_id,
        "object": "payment_intent",
        **copy.deepcopy(PAYMENT_INTENT_DEFAULTS),
        "amount": amount,
        "application_fee_amount": fee,
        "client_secret": f"{pi_id}_secret_{sb.store.new_id('x')[2:]}",
        "created": sb.store.now(),
        "currency": currency,
        "customer": customer,
        "description": get_str(p, "description"),
        "metadata": merge_metadata({}, p.get("metadata")),
        "payment_method": pm["id"] if pm else None,
        "receipt_email": get_str(p, "receipt_email"),
        "setup_future_usage": get_choice(p, "setup_future_usage", ["off_session", "on_session"]),
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
        pm = payment_methods.resolve_payment_method(sb, payment_method, account)
        pi["payment_method"] = pm["id"]
    if return_url:
        pi["_return_url"] = return_url
    pm = _card_to_charge(sb, pi, account, off_session)
    outcome = cards.charge_outcome(
        Behaviour(pm["_behaviour"]), off_session=off_session, authenticated=authenticated
    )
    if isinstance(outcome, StripeError):
        _fail_payment(sb, pi, pm, outcome, account)
    if outcome == "requires_action":
        return _require_authentication(sb, pi, account)
    return succeed_payment(sb, pi, pm, account)


def _card_to_charge(sb: Sandbox, pi: Obj, account: str | None, off_session: bool) -> Obj:
    """The intent's PaymentMethod, if the intent may charge it now."""
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
    return pm


def _require_authentication(sb: Sandbox, pi: Obj, account: str | None) -> Obj:
    """Send the customer to the sandbox's 3-D Secure page (`requires_action`)."""
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


def _fail_payment(sb: Sandbox, pi: Obj, pm: Obj, error: StripeError, account: str | None) -> None:
    charge = charges.new_charge(sb, pi, pm, account, failed_with=error)
    previous = previous_of(pi, "status", "last_payment_error", "latest_charge")
    pi["status"] = "requires_payment_method"
    pi["payment_method"] = None
    pi["next_action"] = None
    pi["latest_charge"] = charge["id"]
    pi["last_payment_error"] = payment_methods.last_error(error, pm, charge["id"])
    sb.emit("charge.failed", charge, account)
    sb.emit("payment_intent.payment_failed", pi, account, previous)
    error.extra.update(charge=charge["id"], payment_intent=render(pi), payment_method=render(pm))
    raise error


def succeed_payment(sb: Sandbox, pi: Obj, pm: Obj, account: str | None) -> Obj:
    charge = charges.new_charge(sb, pi, pm, account)
    fee_amount = pi["application_fee_amount"] or 0
    available_on = sb.store.now() + sb.config.available_after
    direct_fee = bool(fee_amount and account is not None and not pi["transfer_data"])
    charge["balance_transaction"] = _record_charge(
        sb, pi, charge, account, available_on, fee_amount if direct_fee else 0
    )["id"]
    announce: list[Obj] = []
    if pi["transfer_data"]:
        announce = transfers.pay_destination(sb, pi, charge, available_on)
    elif direct_fee and account is not None:
        fee = application_fees.collect(sb, charge, account, fee_amount, available_on)
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
        payment_methods.attach_payment_method(sb, pm, pi["customer"], account, check=False)
    # Stripe attaches the balance transaction a moment after the charge succeeds.
    sb.emit("charge.succeeded", {**charge, "balance_transaction": None}, account)
    sb.emit("payment_intent.succeeded", pi, account, previous)
    _announce(sb, announce)
    sb.emit("charge.updated", charge, account, {"balance_transaction": None})
    if pm["_behaviour"] == Behaviour.DISPUTE.value:
        disputes.open_dispute(sb, charge, account)
    return pi


def _record_charge(
    sb: Sandbox, pi: Obj, charge: Obj, account: str | None, available_on: int, direct_fee: int
) -> Obj:
    """The charge's balance transaction: Stripe's fee, and a direct charge's application fee."""
    currency = pi["currency"]
    stripe_fee = balance.stripe_fee(pi["amount"], currency)
    fees = [balance.fee_detail(stripe_fee, currency, "stripe_fee", "Stripe processing fees")]
    if direct_fee:
        fees.append(balance.fee_detail(direct_fee, currency, "application_fee", "Application fee"))
    return balance.record(
        sb,
        account,
        amount=pi["amount"],
        currency=currency,
        type_="charge",
        source=charge["id"],
        fee_details=fees,
        available_on=available_on,
    )


def _announce(sb: Sandbox, objects: list[Obj]) -> None:
    """Send a payment's transfer (with the connected account's own payment, on its endpoint)
    and application fee events, after the charge's own, as Stripe usually does."""
    for obj in objects:
        if obj["object"] == "transfer":
            sb.emit("transfer.created", obj)
            payment = sb.store.get(
                obj["destination_payment"], "charge", obj["destination"], "destination_payment"
            )
            sb.emit("charge.succeeded", payment, obj["destination"])
        else:
            sb.emit("application_fee.created", obj)


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
