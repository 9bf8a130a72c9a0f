"""Charges: the record of one attempt to take a card payment, made by a PaymentIntent.

Promises: a charge carries the card's summary, Stripe's outcome and, when it succeeded, a
receipt URL on the sandbox; a declined one carries the failure code and message.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from ..errors import StripeError
from ..store import Obj
from . import payment_methods

if TYPE_CHECKING:
    from ..sandbox import Sandbox


CHARGE_DEFAULTS: Obj = {
    "amount_refunded": 0,
    "application": None,
    "application_fee": None,
    "balance_transaction": None,
    "calculated_statement_descriptor": "SANDBOX",
    "disputed": False,
    "failure_balance_transaction": None,
    "fraud_details": {},
    "livemode": False,
    "on_behalf_of": None,
    "receipt_number": None,
    "receipt_url": None,
    "refunded": False,
    "review": None,
    "shipping": None,
    "source_transfer": None,
    "statement_descriptor": None,
    "statement_descriptor_suffix": None,
    "transfer": None,
}
"""A new charge's fields that neither its PaymentIntent nor its outcome decide."""


def new_charge(
    sb: Sandbox, pi: Obj, pm: Obj, account: str | None, failed_with: StripeError | None = None
) -> Obj:
    ok = failed_with is None
    body = failed_with.body()["error"] if failed_with else {}
    charge: Obj = {
        "id": sb.store.new_id("ch"),
        "object": "charge",
        **copy.deepcopy(CHARGE_DEFAULTS),
        "amount": pi["amount"],
        "amount_captured": pi["amount"] if ok else 0,
        "application_fee_amount": pi["application_fee_amount"],
        "billing_details": pm["billing_details"],
        "captured": ok,
        "created": sb.store.now(),
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "failure_code": body.get("code"),
        "failure_message": body.get("message"),
        "metadata": dict(pi["metadata"]),
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
        "payment_method_details": {"card": payment_methods.card_summary(pm), "type": "card"},
        "receipt_email": pi["receipt_email"],
        "status": "succeeded" if ok else "failed",
        "transfer_data": pi["transfer_data"],
        "transfer_group": pi["transfer_group"],
    }
    if ok:
        charge["receipt_url"] = sb.page_url(f"/receipts/{charge['id']}")
    return sb.store.add(charge, account)
