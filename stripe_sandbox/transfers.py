"""Destination charges' money: the transfer, the application fee, their reversals and refunds.

Promises, as Stripe's Connect docs ("Collect fees", "Issue refunds") describe them:

- A destination charge transfers the WHOLE charge amount to the connected account (a `payment`
  `py_` there, pending until its `available_on`), and the application fee is then collected
  back: an `application_fee` (`fee_`) with its own `application_fee` balance transaction on the
  platform, and on the connected account the payment's balance transaction carries the fee in
  `fee_details` (type `application_fee`), so the account nets charge - fee.
- A refund with `reverse_transfer` reverses the transfer in proportion to the share of the
  charge refunded, and `refund_application_fee` refunds the fee in proportion: each part is
  `round_half_up(total * refunded / charge)` (Stripe rounds to the nearest minor unit, halves
  up), never more than what is left, and the refund that completes the charge's refund takes
  exactly what is left, so several partial refunds add up to the transfer and the fee.
- A reversal debits the connected account's AVAILABLE balance (which may go below zero; the
  pending balance is untouched) with a `payment_refund` of its payment, and credits the platform
  with a `transfer_refund`; a fee refund debits the platform (`application_fee_refund`) and
  credits the connected account (`application_fee_refund`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import ledger
from .errors import invalid_request
from .events import previous_of
from .params import get_bool, get_int, merge_metadata
from .store import Obj, list_object, render

if TYPE_CHECKING:
    from .sandbox import Sandbox


def proportional(total: int, part: int, whole: int) -> int:
    """round_half_up(total * part / whole), in integers."""
    return (2 * total * part + whole) // (2 * whole) if whole else 0


def share_of_refund(total: int, done: int, refunded: int, charge: Obj) -> int:
    """The part of `total` (of which `done` went back already) a refund of `refunded` returns."""
    left = total - done
    if charge["amount_refunded"] + refunded >= charge["amount"]:
        return left
    return min(left, proportional(total, refunded, charge["amount"]))


# -- paying the connected account ----------------------------------------------------------------
def pay_destination(sb: Sandbox, pi: Obj, charge: Obj, available_on: int) -> list[Obj]:
    """The transfer, the connected account's payment and the application fee of a charge.

    Returns the objects to announce (`transfer.created`, then `application_fee.created`), so the
    caller can send them after the charge's own events, in the order Stripe usually does.
    """
    destination = pi["transfer_data"]["destination"]
    currency, amount = pi["currency"], pi["amount"]
    fee_amount = pi["application_fee_amount"] or 0
    transfer_id = sb.store.new_id("tr")
    payment = _destination_payment(sb, charge, destination, transfer_id, fee_amount)
    transfer: Obj = {
        "id": transfer_id,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": ledger.record(
            sb,
            None,
            amount=-amount,
            currency=currency,
            type_="transfer",
            source=transfer_id,
            available_on=available_on,
        )["id"],
        "created": sb.store.now(),
        "currency": currency,
        "description": None,
        "destination": destination,
        "destination_payment": payment["id"],
        "livemode": False,
        "metadata": {},
        "reversals": list_object(f"/v1/transfers/{transfer_id}/reversals", []),
        "reversed": False,
        "source_transaction": charge["id"],
        "source_type": "card",
        "transfer_group": pi["transfer_group"],
    }
    sb.store.add(transfer, None)
    charge["transfer"] = transfer_id
    announce = [transfer]
    if fee_amount:
        fee = application_fee(sb, charge, destination, fee_amount, available_on)
        charge["application_fee"] = fee["id"]
        announce.append(fee)
    return announce


def _destination_payment(
    sb: Sandbox, charge: Obj, destination: str, transfer_id: str, fee_amount: int
) -> Obj:
    currency, amount = charge["currency"], charge["amount"]
    acct = sb.store.get(destination, "account", None, "transfer_data[destination]")
    payment: Obj = {
        **render(charge),
        "id": sb.store.new_id("py"),
        "application_fee": None,
        "application_fee_amount": None,
        "customer": None,
        "payment_intent": None,
        "payment_method": None,
        "payment_method_details": {"stripe_account": {}, "type": "stripe_account"},
        "source_transfer": transfer_id,
        "transfer": None,
        "transfer_data": None,
        "transfer_group": None,
    }
    fees = (
        [ledger.fee_detail(fee_amount, currency, "application_fee", "Application fee")]
        if fee_amount
        else []
    )
    payment["balance_transaction"] = ledger.record(
        sb,
        destination,
        amount=amount,
        currency=currency,
        type_="payment",
        source=payment["id"],
        fee_details=fees,
        available_on=funds_available_on(sb, acct),
    )["id"]
    return sb.store.add(payment, destination)


def funds_available_on(sb: Sandbox, acct: Obj) -> int:
    """When a connected account's payment becomes available: after its schedule's `delay_days`
    on an automatic payout schedule, after the sandbox's `available_after` on a manual one."""
    schedule = acct["settings"]["payouts"]["schedule"]
    if schedule["interval"] == "manual":
        return sb.store.now() + sb.config.available_after
    return sb.store.now() + int(schedule.get("delay_days") or 0) * 86400


def application_fee(
    sb: Sandbox, charge: Obj, account_id: str, amount: int, available_on: int
) -> Obj:
    """The fee collected from `account_id` on `charge`, with its platform balance transaction."""
    fee_id = sb.store.new_id("fee")
    fee: Obj = {
        "id": fee_id,
        "object": "application_fee",
        "account": account_id,
        "amount": amount,
        "amount_refunded": 0,
        "application": ledger.PLATFORM_APPLICATION,
        "balance_transaction": ledger.record(
            sb,
            None,
            amount=amount,
            currency=charge["currency"],
            type_="application_fee",
            source=fee_id,
            available_on=available_on,
        )["id"],
        "charge": charge["id"],
        "created": sb.store.now(),
        "currency": charge["currency"],
        "fee_source": {"charge": charge["id"], "type": "charge"},
        "livemode": False,
        "originating_transaction": charge["id"],
        "refunded": False,
        "refunds": list_object(f"/v1/application_fees/{fee_id}/refunds", []),
    }
    return sb.store.add(fee, None)


# -- giving it back ------------------------------------------------------------------------------
def reverse(
    sb: Sandbox,
    transfer: Obj,
    amount: int,
    *,
    source_refund: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Obj:
    """Take `amount` of `transfer` back from the connected account: a `trr_` reversal.

    The connected account's payment is refunded (`pyr_`, a `payment_refund` debiting its
    available balance, which may go negative) and the platform gets a `transfer_refund`.
    """
    left = transfer["amount"] - transfer["amount_reversed"]
    if amount <= 0 or amount > left:
        raise invalid_request(
            f"The amount to reverse ({amount}) must be positive and at most what is left of the "
            f"transfer ({left}).",
            "amount",
        )
    currency = transfer["currency"]
    reversal_id = sb.store.new_id("trr")
    payment_refund = _payment_refund(sb, transfer, amount)
    reversal: Obj = {
        "id": reversal_id,
        "object": "transfer_reversal",
        "amount": amount,
        "balance_transaction": ledger.record(
            sb,
            None,
            amount=amount,
            currency=currency,
            type_="transfer_refund",
            source=reversal_id,
        )["id"],
        "created": sb.store.now(),
        "currency": currency,
        "destination_payment_refund": payment_refund["id"],
        "metadata": metadata or {},
        "source_refund": source_refund,
        "transfer": transfer["id"],
    }
    sb.store.add(reversal, None)
    previous = previous_of(transfer, "amount_reversed", "reversed")
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
    transfer["reversals"]["data"].insert(0, reversal)
    sb.emit("transfer.reversed", transfer, None, previous)
    return reversal


def _payment_refund(sb: Sandbox, transfer: Obj, amount: int) -> Obj:
    destination, currency = transfer["destination"], transfer["currency"]
    payment = sb.store.find(transfer["destination_payment"]) or {}
    refund_id = sb.store.new_id("pyr")
    refund: Obj = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": ledger.record(
            sb,
            destination,
            amount=-amount,
            currency=currency,
            type_="payment_refund",
            source=refund_id,
        )["id"],
        "charge": payment.get("id"),
        "created": sb.store.now(),
        "currency": currency,
        "destination_details": None,
        "metadata": {},
        "payment_intent": None,
        "reason": None,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    sb.store.add(refund, destination)
    if payment:
        payment["amount_refunded"] += amount
        payment["refunded"] = payment["amount_refunded"] == payment["amount"]
    return refund


def refund_fee(sb: Sandbox, fee: Obj, amount: int, metadata: dict[str, Any] | None = None) -> Obj:
    """Give `amount` of an application fee back to the account it was taken from: a `fr_`."""
    refund_id = sb.store.new_id("fr")
    currency = fee["currency"]
    ledger.record(
        sb,
        fee["account"],
        amount=amount,
        currency=currency,
        type_="application_fee_refund",
        source=refund_id,
    )
    fee_refund: Obj = {
        "id": refund_id,
        "object": "fee_refund",
        "amount": amount,
        "balance_transaction": ledger.record(
            sb,
            None,
            amount=-amount,
            currency=currency,
            type_="application_fee_refund",
            source=refund_id,
        )["id"],
        "created": sb.store.now(),
        "currency": currency,
        "fee": fee["id"],
        "metadata": metadata or {},
    }
    sb.store.add(fee_refund, None)
    previous = previous_of(fee, "amount_refunded", "refunded")
    fee["refunds"]["data"].insert(0, fee_refund)
    fee["amount_refunded"] += amount
    fee["refunded"] = fee["amount_refunded"] == fee["amount"]
    sb.emit("application_fee.refunded", fee, None, previous)
    return fee_refund


def create_reversal(sb: Sandbox, transfer: Obj, p: dict[str, Any]) -> Obj:
    """`POST /v1/transfers/{id}/reversals`: the platform takes money back from the connected
    account (the whole rest of the transfer by default), and with `refund_application_fee` the
    same share of the charge's application fee goes back to the account."""
    left = transfer["amount"] - transfer["amount_reversed"]
    if left <= 0:
        raise invalid_request(
            f"Transfer {transfer['id']} has already been fully reversed.", None, "transfer_reversed"
        )
    amount = get_int(p, "amount", left)
    if amount is None or amount <= 0:
        raise invalid_request("Invalid positive integer", "amount")
    if amount > left:
        raise invalid_request(
            f"The amount to reverse ({amount}) is more than the transfer has left ({left}).",
            "amount",
            "amount_too_large",
        )
    reversal = reverse(sb, transfer, amount, metadata=merge_metadata({}, p.get("metadata")))
    charge = sb.store.find(transfer["source_transaction"] or "") or {}
    if get_bool(p, "refund_application_fee") and charge.get("application_fee"):
        fee = sb.store.get(charge["application_fee"], "application_fee", None)
        fee_left = fee["amount"] - fee["amount_refunded"]
        fee_part = (
            fee_left
            if transfer["reversed"]
            else min(fee_left, proportional(fee["amount"], amount, transfer["amount"]))
        )
        if fee_part > 0:
            refund_fee(sb, fee, fee_part)
    return reversal
