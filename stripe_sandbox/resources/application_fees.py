"""Application fees: the platform's cut of a connected account's charge, and its refunds.

Promises: a fee (`fee_`) has its own `application_fee` balance transaction on the platform; a
fee refund (`fr_`) debits the platform and credits the account it was taken from
(`application_fee_refund` on both sides) and emits `application_fee.refunded`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..events import previous_of
from ..store import Obj, list_object
from . import balance

if TYPE_CHECKING:
    from ..sandbox import Sandbox


def collect(sb: Sandbox, charge: Obj, account_id: str, amount: int, available_on: int) -> Obj:
    """The fee collected from `account_id` on `charge`, with its platform balance transaction."""
    fee_id = sb.store.new_id("fee")
    fee: Obj = {
        "id": fee_id,
        "object": "application_fee",
        "account": account_id,
        "amount": amount,
        "amount_refunded": 0,
        "application": balance.PLATFORM_APPLICATION,
        "balance_transaction": balance.record(
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


def refund(sb: Sandbox, fee: Obj, amount: int, metadata: dict[str, Any] | None = None) -> Obj:
    """Give `amount` of an application fee back to the account it was taken from: a `fr_`."""
    refund_id = sb.store.new_id("fr")
    currency = fee["currency"]
    balance.record(
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
        "balance_transaction": balance.record(
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
