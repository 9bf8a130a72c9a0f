"""Refunds of destination charges: the transfer and the application fee go back in proportion.

`create_refund` names the local `Refund` row in its idempotency key, so a double click or a retry
makes one Stripe refund. `list_refunds_for_charge` reads what Stripe holds for a charge.
"""

from __future__ import annotations

from typing import Any

from portal.models import Refund
from portal.money import to_minor_units
from portal.stripe_gateway import call, client, idempotency_key, to_plain


def create_refund(refund: Refund, *, payment_intent_id: str) -> dict[str, Any]:
    """Refund `refund.amount` of the PaymentIntent, reversing the coach's transfer and fee."""
    params: dict[str, Any] = {
        "payment_intent": payment_intent_id,
        "amount": to_minor_units(refund.amount, refund.currency),
        "reverse_transfer": True,
        "refund_application_fee": True,
        "reason": "requested_by_customer",
        "metadata": {"refund_id": str(refund.id), "transaction_id": str(refund.transaction_id)},
    }
    result = call(
        "refunds.create",
        client().v1.refunds.create,
        params=params,
        options={"idempotency_key": idempotency_key("refund", refund)},
    )
    return to_plain(result)


def list_refunds_for_charge(charge_id: str) -> list[dict[str, Any]]:
    """Every refund Stripe holds for a charge, newest first."""
    result = call(
        "refunds.list", client().v1.refunds.list, params={"charge": charge_id, "limit": 100}
    )
    return to_plain(result.data)
