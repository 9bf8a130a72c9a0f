"""Refunds: money back to the card, in full or in part.

Promises: a refund takes all that is left of its charge by default, never more; on a destination
charge it reverses the transfer and refunds the application fee in proportion when asked (see
transfers.py and application_fees.py); a disputed charge cannot be refunded (`charge_disputed`);
`refund.created` then `charge.refunded`. A refund the card's bank later refuses (`fail`, a control
endpoint here) becomes `failed` with a `failure_reason`: its amount comes back to the platform's
balance (`refund_failure`) and may be refunded again, while the transfer reversal and the
application fee refund it made stay as they are; `refund.updated` and `refund.failed`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import invalid_request, missing_param
from ..events import previous_of
from ..params import get_bool, get_choice, get_int, get_str, merge_metadata
from ..store import Obj
from . import application_fees, balance, disputes, transfers

if TYPE_CHECKING:
    from ..sandbox import Sandbox


def create_refund(sb: Sandbox, p: dict[str, Any], account: str | None) -> Obj:
    """Refund a charge (all that is left by default); on a destination charge, reverse the
    transfer and refund the application fee in proportion when asked (see transfers.py)."""
    charge = _charge_to_refund(sb, p, account)
    amount = _amount(p, charge)
    reverse_transfer = get_bool(p, "reverse_transfer")
    refund_application_fee = get_bool(p, "refund_application_fee")
    reason = get_choice(p, "reason", ["duplicate", "fraudulent", "requested_by_customer"])
    refund_id = sb.store.new_id("re")
    refund: Obj = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": balance.record(
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
        _reverse_transfer(sb, charge, refund)
    if refund_application_fee and charge["application_fee"]:
        _refund_application_fee(sb, charge, amount)
    previous = previous_of(charge, "amount_refunded", "refunded")
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    sb.emit("refund.created", refund, account)
    sb.emit("charge.refunded", charge, account, previous)
    return refund


def _amount(p: dict[str, Any], charge: Obj) -> int:
    """The amount to refund: all that is left of the charge unless the request asks for less."""
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
    return amount


def _reverse_transfer(sb: Sandbox, charge: Obj, refund: Obj) -> None:
    """Take back the refund's share of the charge's transfer from the connected account."""
    transfer = sb.store.get(charge["transfer"], "transfer", None)
    part = transfers.share_of_refund(
        transfer["amount"], transfer["amount_reversed"], refund["amount"], charge
    )
    if part > 0:
        reversal = transfers.reverse(sb, transfer, part, source_refund=refund["id"])
        refund["transfer_reversal"] = reversal["id"]


def _refund_application_fee(sb: Sandbox, charge: Obj, amount: int) -> None:
    """Give the connected account back the refund's share of the platform's fee."""
    fee = sb.store.get(charge["application_fee"], "application_fee", None)
    part = transfers.share_of_refund(fee["amount"], fee["amount_refunded"], amount, charge)
    if part > 0:
        application_fees.refund(sb, fee, part)


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


FAILURE_REASONS = ("lost_or_stolen_card", "expired_or_canceled_card", "declined", "unknown")


def fail(sb: Sandbox, refund: Obj, reason: str, account: str | None) -> Obj:
    """The card's bank refused a succeeded refund: its money is back with the platform."""
    if refund["status"] != "succeeded":
        raise invalid_request(
            f"Only a succeeded refund can fail; this one is {refund['status']}.", None
        )
    if reason not in FAILURE_REASONS:
        raise invalid_request(f"Choose a failure reason: {', '.join(FAILURE_REASONS)}.", "reason")
    charge = sb.store.get(refund["charge"], "charge", account, "charge")
    previous = previous_of(refund, "status", "failure_reason", "failure_balance_transaction")
    refund["status"] = "failed"
    refund["failure_reason"] = reason
    refund["failure_balance_transaction"] = balance.record(
        sb,
        account,
        amount=refund["amount"],
        currency=refund["currency"],
        type_="refund_failure",
        source=refund["id"],
    )["id"]
    charge["amount_refunded"] -= refund["amount"]
    charge["refunded"] = False
    sb.emit("refund.updated", refund, account, previous)
    sb.emit("refund.failed", refund, account, previous)
    return refund
