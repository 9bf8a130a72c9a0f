"""Disputes on the platform's charges: what Stripe moved for one, and answering it with evidence.

What it promises:

- `funds_of` reads from a dispute what Stripe withdrew from the platform's balance and gave back
  (the disputed amount out, and in again if the dispute was won) and Stripe's dispute fee, from
  the dispute's own balance transactions. The portal records these figures, never its own.
- `submit_evidence` stages the evidence and submits it in one `POST /v1/disputes/{id}` (Stripe
  submits unless told `submit=false`); its idempotency key names the transaction and the
  dispute, so a double click sends the evidence once.
- `reverse_transfer_for_dispute` takes the coach's share of a lost dispute back from the coach's
  transfer, once per transaction, and answers Stripe's reversal (whose amount is recorded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.models import Transaction
from portal.stripe_gateway import InvalidRequest, call, client, idempotency_key, to_plain


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


def reverse_transfer_for_dispute(transaction: Transaction, amount: int) -> dict[str, Any]:
    """Take `amount` (minor units) of the coach's transfer back for the lost dispute: Stripe's
    transfer reversal, as Stripe reports it. One per transaction (the key names it)."""
    if not transaction.stripe_transfer_id:
        raise InvalidRequest(
            "This payment's transfer to the coach is not known yet, so nothing can be recovered. "
            "Try again once the payment's events have arrived."
        )
    result = call(
        "transfers.reversals.create",
        client().v1.transfers.reversals.create,
        transaction.stripe_transfer_id,
        params={
            "amount": amount,
            "description": "Recovery of a lost dispute",
            "metadata": {"transaction_id": str(transaction.id), "reason": "dispute_lost"},
        },
        options={"idempotency_key": idempotency_key("dispute-recovery", transaction)},
    )
    return to_plain(result)
