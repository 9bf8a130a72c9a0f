"""Disputes: opened by the test card 4000000000000259, answered with evidence, won or lost.

Promises, as Stripe's dispute docs describe them:

- A dispute withdraws the disputed amount and a 15.00 dispute fee from the balance of the
  account that owns the charge (the platform, for a destination charge) as one `adjustment`
  balance transaction (reporting category `dispute`), and emits `charge.dispute.created` then
  `charge.dispute.funds_withdrawn`. A destination charge's transfer stays where it is: the
  platform recovers the money from the connected account only if it reverses the transfer
  (`POST /v1/transfers/{id}/reversals`), which may take that account below zero.
- `update` stages `evidence` and `metadata`; with `submit` (Stripe's default: true) the evidence
  goes to the bank: status `under_review`, `evidence_details.submission_count` + 1,
  `past_due` if submitted after `due_by`. Evidence can be submitted once, and a closed dispute
  takes no more.
- A dispute closes as `won` or `lost` through `POST /_sandbox/disputes/<id>/close`, or by itself
  when the sandbox clock passes its decision time (`dispute_decision_after` seconds after it
  opened): won if evidence was submitted, lost otherwise. Won reinstates the disputed amount
  (`charge.dispute.funds_reinstated`, category `dispute_reversal`; the fee stays with Stripe);
  both emit `charge.dispute.closed`.
- A disputed charge cannot be refunded unless its dispute was won (`charge_disputed`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import stripe

from . import ledger
from .errors import invalid_request
from .events import previous_of
from .params import get_bool, get_dict, merge_metadata
from .store import Obj, render

if TYPE_CHECKING:
    from .sandbox import Sandbox

DISPUTE_FEE = 1500
"""Stripe's dispute fee in a two-decimal currency's minor units (zero-decimal: not charged)."""
EVIDENCE_DAYS = 7
"""Days the platform has to answer (`evidence_details.due_by`)."""
OPEN = ("needs_response", "under_review", "warning_needs_response", "warning_under_review")
EVIDENCE_FIELDS = list(stripe.Dispute.Evidence.__annotations__)


def open_dispute(sb: Sandbox, charge: Obj, account: str | None) -> Obj:
    now = sb.store.now()
    dispute_id = sb.store.new_id("du")
    currency = charge["currency"]
    fee = 0 if currency in ledger.ZERO_DECIMAL else DISPUTE_FEE
    txn = ledger.record(
        sb,
        account,
        amount=-charge["amount"],
        currency=currency,
        type_="adjustment",
        source=dispute_id,
        fee_details=[ledger.fee_detail(fee, currency, "stripe_fee", "Dispute fee")] if fee else [],
        description=f"Chargeback withdrawal for {charge['id']}",
        reporting_category="dispute",
    )
    dispute: Obj = {
        "id": dispute_id,
        "object": "dispute",
        "amount": charge["amount"],
        "balance_transactions": [render(txn)],
        "charge": charge["id"],
        "created": now,
        "currency": currency,
        "enhanced_eligibility_types": [],
        "evidence": {
            name: ({} if name == "enhanced_evidence" else None) for name in EVIDENCE_FIELDS
        },
        "evidence_details": {
            "due_by": now + EVIDENCE_DAYS * 86400,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "submission_method": "not_submitted",
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "network_reason_code": "10.4",
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": "visa",
                "case_type": "chargeback",
                "network": "visa",
                "network_reason_code": "10.4",
            },
            "type": "card",
        },
        "reason": "fraudulent",
        "status": "needs_response",
        "_decide_at": now + sb.config.dispute_decision_after,
    }
    sb.store.add(dispute, account)
    charge["disputed"] = True
    sb.emit("charge.dispute.created", dispute, account)
    sb.emit("charge.dispute.funds_withdrawn", dispute, account)
    return dispute


def update(sb: Sandbox, dispute: Obj, p: dict[str, Any], account: str | None) -> Obj:
    """Stage evidence and metadata; submit the evidence unless `submit=false`."""
    if dispute["status"] not in OPEN:
        raise invalid_request(
            f"This dispute is already closed ({dispute['status']}); it takes no more evidence.",
            None,
        )
    submit = get_bool(p, "submit", True)
    if submit and dispute["evidence_details"]["submission_count"] > 0:
        raise invalid_request(
            "The evidence for this dispute has already been submitted; it can be submitted once.",
            "submit",
        )
    before = render(dispute)
    evidence = get_dict(p, "evidence")
    for name, value in evidence.items():
        dispute["evidence"][name] = value if value != "" else None
    dispute["metadata"] = merge_metadata(dispute["metadata"], p.get("metadata"))
    details = dispute["evidence_details"]
    details["has_evidence"] = details["has_evidence"] or bool(evidence)
    if submit:
        now = sb.store.now()
        details["submission_count"] += 1
        details["past_due"] = details["due_by"] is not None and now > details["due_by"]
        details["submission_method"] = "manual"  # by the platform, through the API
        dispute["status"] = "under_review"
    after = render(dispute)
    previous = {k: v for k, v in before.items() if after.get(k) != v}
    if previous:
        sb.emit("charge.dispute.updated", dispute, account, previous)
    return dispute


def close(sb: Sandbox, dispute: Obj, outcome: str) -> Obj:
    """The bank's decision: `won` gives the disputed amount back, `lost` keeps it withdrawn."""
    if outcome not in ("won", "lost"):
        raise invalid_request("outcome must be won or lost", "outcome")
    if dispute["status"] not in OPEN:
        raise invalid_request(f"This dispute is already closed ({dispute['status']}).", None)
    account = sb.store.owner[dispute["id"]]
    previous = previous_of(dispute, "status", "balance_transactions")
    dispute["status"] = outcome
    if outcome == "won":
        txn = ledger.record(
            sb,
            account,
            amount=dispute["amount"],
            currency=dispute["currency"],
            type_="adjustment",
            source=dispute["id"],
            description=f"Chargeback reversal for {dispute['charge']}",
            reporting_category="dispute_reversal",
        )
        dispute["balance_transactions"].append(render(txn))
        sb.emit("charge.dispute.funds_reinstated", dispute, account)
    sb.emit("charge.dispute.closed", dispute, account, previous)
    return dispute


def decide_due(sb: Sandbox) -> None:
    """Close every open dispute whose decision time has passed on the sandbox clock."""
    now = sb.store.now()
    with sb.store.lock:
        due = [
            obj
            for obj in list(sb.store.objects.values())
            if obj.get("object") == "dispute" and obj["status"] in OPEN and obj["_decide_at"] <= now
        ]
        for dispute in sorted(due, key=lambda d: d["_decide_at"]):
            submitted = dispute["evidence_details"]["submission_count"] > 0
            close(sb, dispute, "won" if submitted else "lost")


def blocks_refund(sb: Sandbox, charge: Obj) -> bool:
    """Whether a dispute on `charge` forbids refunding it (any dispute not won)."""
    if not charge.get("disputed"):
        return False
    return any(
        d["charge"] == charge["id"] and d["status"] != "won"
        for d in sb.store.select("dispute", sb.store.owner.get(charge["id"]))
    )
