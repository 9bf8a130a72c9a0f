"""Disputes on the platform's charges: what Stripe moved for one, and answering it with evidence.

What it promises:

- `funds_of` reads from a dispute what Stripe withdrew from the platform's balance and gave back
  (the disputed amount out, and in again if the dispute was won) and Stripe's dispute fee, from
  the dispute's own balance transactions. The portal records these figures, never its own.
- `submit_evidence` stages the evidence and submits it in one `POST /v1/disputes/{id}` (Stripe
  submits unless told `submit=false`); its idempotency key names the transaction and the
  dispute, so a double click sends the evidence once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.models import Transaction
from portal.stripe_gateway import call, client, idempotency_key, to_plain


@dataclass(frozen=True)
class DisputeFunds:
    """What a dispute moved on the platform's balance, in minor units, each as a positive number."""

    withdrawn: int
    reinstated: int
    fee: int


def funds_of(dispute: dict[str, Any]) -> DisputeFunds:
    moved = dispute.get("balance_transactions") or []
    amounts = [int(bt.get("amount") or 0) for bt in moved if isinstance(bt, dict)]
    return DisputeFunds(
        withdrawn=-sum(a for a in amounts if a < 0),
        reinstated=sum(a for a in amounts if a > 0),
        fee=sum(int(bt.get("fee") or 0) for bt in moved if isinstance(bt, dict)),
    )


def submit_evidence(
    transaction: Transaction, dispute_id: str, evidence: dict[str, str]
) -> dict[str, Any]:
    """Send `evidence` for the dispute on `transaction`'s payment and submit it to the bank."""
    result = call(
        "disputes.update",
        client().v1.disputes.update,
        dispute_id,
        params={
            "evidence": {name: value for name, value in evidence.items() if value},
            "submit": True,
            "metadata": {"transaction_id": str(transaction.id)},
        },
        options={"idempotency_key": idempotency_key("dispute-evidence", transaction, dispute_id)},
    )
    return to_plain(result)
