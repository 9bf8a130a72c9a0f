"""Refunds of destination charges, and how Stripe split each one.

What it promises:

- `create_refund` names the local `Refund` row in its idempotency key, so a double click or a
  retry makes one Stripe refund. It asks Stripe to reverse the coach's transfer and refund the
  application fee, and to answer with the refund's transfer reversal, charge, application fee
  and transfer expanded (`REFUND_EXPANSIONS`), as `retrieve_refund` does.
- `split_of` reads from such a refund what Stripe moved (`StripeSplit`): the transfer
  reversal's amount, the application fee's refunded amount to date, and whether the fee was
  taken from the coach's account. Stripe computes these; the portal records them and never
  recomputes them (a local split is only a preview).
- `list_refunds_for_charge` and `retrieve_charge` read what Stripe holds for a charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.models import Refund
from portal.money import to_minor_units
from portal.stripe_gateway import call, client, idempotency_key, to_plain

# The charge's transfer lists its reversals (each naming its `source_refund`), and its application
# fee says how much of it has been refunded.
REFUND_EXPANSIONS = ["charge.application_fee", "charge.transfer"]


@dataclass(frozen=True)
class StripeSplit:
    """What Stripe moved for one refund, in minor units.

    `fee_refunded_to_date` is the charge's application fee's `amount_refunded` as the refund was
    read: this refund's fee refund and those of the charge's earlier refunds. `fee_from_account`
    is true when the transfer carried the whole amount and the fee was collected from the
    coach's account, so a fee refund goes back to that account.
    """

    transfer_reversed: int
    fee_refunded_to_date: int
    fee_from_account: bool


class SplitUnknown(LookupError):
    """The refund was read without the expansions `split_of` needs."""


def create_refund(refund: Refund, *, payment_intent_id: str) -> dict[str, Any]:
    """Refund `refund.amount` of the PaymentIntent, reversing the coach's transfer and fee."""
    params: dict[str, Any] = {
        "payment_intent": payment_intent_id,
        "amount": to_minor_units(refund.amount, refund.currency),
        "reverse_transfer": True,
        "refund_application_fee": True,
        "reason": "requested_by_customer",
        "metadata": {"refund_id": str(refund.id), "transaction_id": str(refund.transaction_id)},
        "expand": REFUND_EXPANSIONS,
    }
    result = call(
        "refunds.create",
        client().v1.refunds.create,
        params=params,
        options={"idempotency_key": idempotency_key("refund", refund)},
    )
    return to_plain(result)


def retrieve_refund(refund_id: str) -> dict[str, Any]:
    """The refund as Stripe holds it now, expanded for `split_of`."""
    result = call(
        "refunds.retrieve",
        client().v1.refunds.retrieve,
        refund_id,
        params={"expand": REFUND_EXPANSIONS},
    )
    return to_plain(result)


def split_of(stripe_refund: dict[str, Any]) -> StripeSplit:
    """What Stripe moved for this refund; raises SplitUnknown if it was read unexpanded."""
    charge = stripe_refund.get("charge")
    if not isinstance(charge, dict):
        raise SplitUnknown(f"Refund {stripe_refund.get('id')} was read without its charge.")
    fee = charge.get("application_fee")
    transfer = charge.get("transfer")
    if isinstance(fee, str) or isinstance(transfer, str):
        raise SplitUnknown(f"Refund {stripe_refund.get('id')} was read without its split.")
    fee_amount = int(fee["amount"]) if fee else 0
    fee_from_account = bool(
        fee and transfer and int(transfer["amount"]) > int(charge["amount"]) - fee_amount
    )
    return StripeSplit(
        transfer_reversed=_reversed_by(stripe_refund, transfer),
        fee_refunded_to_date=int(fee["amount_refunded"]) if fee else 0,
        fee_from_account=fee_from_account,
    )


def _reversed_by(stripe_refund: dict[str, Any], transfer: dict[str, Any] | None) -> int:
    reversal = stripe_refund.get("transfer_reversal")
    if isinstance(reversal, dict):
        return int(reversal["amount"])
    if reversal is None:
        return 0
    listed = ((transfer or {}).get("reversals") or {}).get("data") or []
    for item in listed:
        if item.get("id") == reversal:
            return int(item["amount"])
    raise SplitUnknown(f"Refund {stripe_refund.get('id')}'s transfer reversal is not listed.")


def list_refunds_for_charge(charge_id: str) -> list[dict[str, Any]]:
    """Every refund Stripe holds for a charge, newest first."""
    result = call(
        "refunds.list", client().v1.refunds.list, params={"charge": charge_id, "limit": 100}
    )
    return to_plain(result.data)


def retrieve_charge(charge_id: str) -> dict[str, Any]:
    """The charge as Stripe holds it now (its PaymentIntent and `amount_refunded`)."""
    return to_plain(call("charges.retrieve", client().v1.charges.retrieve, charge_id))
