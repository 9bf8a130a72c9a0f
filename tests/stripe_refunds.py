"""Stripe's side of a refund of a destination charge, for fakes at the refunds gateway's seam.

Stripe reverses the coach's transfer and refunds the application fee in proportion to the
refund, each rounded half up on its own, as the offline stand-in does. `StripeSplits.made`
turns a refund of a portal transaction into the expanded refund `create_refund` and
`retrieve_refund` answer with, keeping each charge's running totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from portal.models import Refund
from portal.money import to_minor_units


def share(total: int, part: int, whole: int) -> int:
    """round_half_up(total * part / whole) in integers, as Stripe splits a refund."""
    return (2 * total * part + whole) // (2 * whole) if whole else 0


@dataclass
class StripeSplits:
    reversed: dict[int, int] = field(default_factory=dict)  # by transaction id
    fee_refunded: dict[int, int] = field(default_factory=dict)

    def made(self, refund: Refund, created: dict[str, Any]) -> dict[str, Any]:
        """`created` (a refund's id, status...) with Stripe's split of `refund`, expanded."""
        txn = refund.transaction
        amount = to_minor_units(txn.amount, txn.currency)
        fee = to_minor_units(txn.platform_fee, txn.currency)
        transfer = amount - fee
        part = to_minor_units(refund.amount, refund.currency)
        done = self.reversed.get(txn.id, 0)
        reversal = min(share(transfer, part, amount), transfer - done)
        fee_done = self.fee_refunded.get(txn.id, 0)
        fee_refund = min(share(fee, part, amount), fee - fee_done)
        self.reversed[txn.id] = done + reversal
        self.fee_refunded[txn.id] = fee_done + fee_refund
        return {
            **created,
            "transfer_reversal": f"trr_{created['id']}",
            "charge": {
                "object": "charge",
                "amount": amount,
                "application_fee": {"amount": fee, "amount_refunded": fee_done + fee_refund},
                "transfer": {
                    "amount": transfer,
                    "reversals": {"data": [{"id": f"trr_{created['id']}", "amount": reversal}]},
                },
            },
        }
