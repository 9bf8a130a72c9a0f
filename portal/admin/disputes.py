"""The admin's dispute workspace: every dispute, its deadline, and answering it with evidence.

What it promises:

- `disputes_on_record` lists each dispute the portal was told of (the transaction's dispute
  flag, written by the `charge.dispute.*` events), open ones first, soonest deadline first.
- `evidence_draft` prefills the answer from what the portal knows: the booking's time, coach
  and mentee, whether it took place, the cancellation policy the mentee accepted, the receipt.
- `recovery_of` says what a lost dispute's recovery would take from the coach (or why there is
  none) before an admin confirms it; `recover` makes it (`portal.disputes`).
- `submit_evidence` sends the admin's evidence to Stripe and submits it (once: Stripe refuses a
  second submission, and the key names the dispute), then notes the submission on the flag and
  in the audit log. The outcome comes later, from Stripe's events, never from here.

Services add and flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from portal import disputes as recovery
from portal.admin import audit
from portal.errors import PortalError
from portal.extensions import db
from portal.models import Booking, SessionStatus, Transaction, utcnow
from portal.stripe_gateway import disputes as gateway

CANCELLATION_POLICY = (
    "A mentee who cancels at least 24 hours before the session's start gets a full refund; a "
    "later cancellation is not refunded. A coach who cancels always refunds in full. The mentee "
    "saw this policy on the booking page before paying at Checkout."
)
EVIDENCE_FIELDS = (
    "product_description",
    "customer_name",
    "customer_email_address",
    "service_date",
    "cancellation_policy_disclosure",
    "uncategorized_text",
)


class DisputeError(PortalError):
    """A dispute that cannot take evidence now; the message says why."""


@dataclass(frozen=True)
class DisputeRow:
    transaction: Transaction
    id: str
    reason: str
    status: str
    amount: Decimal
    fee: Decimal
    withdrawn: Decimal
    reinstated: Decimal
    currency: str
    due_by: datetime | None
    submitted: bool
    closed: bool
    recovered: Decimal | None

    @property
    def takes_evidence(self) -> bool:
        return not self.closed and not self.submitted

    def time_left(self, now: datetime) -> str:
        """The evidence deadline counting down, in words: "2 days 5 hours left"."""
        if self.closed or self.submitted or self.due_by is None:
            return ""
        left = self.due_by - now
        if left <= timedelta(0):
            return "past due"
        days, hours = left.days, left.seconds // 3600
        if days:
            return f"{days} day{'s' * (days != 1)} {hours} hour{'s' * (hours != 1)} left"
        minutes = left.seconds % 3600 // 60
        return f"{hours} hour{'s' * (hours != 1)} {minutes} minute{'s' * (minutes != 1)} left"


def row_of(transaction: Transaction) -> DisputeRow | None:
    flag = (transaction.meta or {}).get("dispute")
    if not isinstance(flag, dict) or not flag.get("id"):
        return None
    due_by = flag.get("due_by")
    return DisputeRow(
        transaction=transaction,
        id=str(flag["id"]),
        reason=str(flag.get("reason") or "general").replace("_", " "),
        status=str(flag.get("status") or ""),
        amount=Decimal(flag.get("amount") or "0"),
        fee=Decimal(flag.get("fee") or "0"),
        withdrawn=Decimal(flag.get("withdrawn") or "0"),
        reinstated=Decimal(flag.get("reinstated") or "0"),
        currency=str(flag.get("currency") or transaction.currency),
        due_by=datetime.fromtimestamp(int(due_by), UTC) if due_by else None,
        submitted=bool(flag.get("submitted")),
        closed=bool(flag.get("closed")),
        recovered=Decimal(flag["recovered"]) if flag.get("recovered") else None,
    )


def disputes_on_record() -> list[DisputeRow]:
    disputed = db.session.scalars(
        sa.select(Transaction)
        .where(Transaction.meta["dispute"].as_string().is_not(None))
        .order_by(Transaction.id.desc())
    )
    rows = [row for txn in disputed if (row := row_of(txn)) is not None]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda r: (r.closed, r.due_by or far))


def dispute_of(transaction_id: int) -> DisputeRow:
    transaction = db.session.get(Transaction, transaction_id)
    row = row_of(transaction) if transaction is not None else None
    if row is None:
        raise LookupError(transaction_id)
    return row


def evidence_draft(row: DisputeRow) -> dict[str, str]:
    """The evidence the portal can give for this payment, for the admin to read and amend."""
    txn = row.transaction
    booking: Booking | None = txn.session
    paid = f"{txn.amount} {txn.currency} paid on {txn.created_at:%Y-%m-%d %H:%M} UTC"
    receipt = (
        f"Receipt: {paid}, portal payment {txn.id}, Stripe payment {txn.stripe_payment_intent_id}."
    )
    if booking is None:
        return {
            "product_description": "A payment on the coaching marketplace.",
            "customer_name": txn.payer.name,
            "customer_email_address": txn.payer.email,
            "service_date": "",
            "cancellation_policy_disclosure": CANCELLATION_POLICY,
            "uncategorized_text": receipt,
        }
    return {
        "product_description": (
            f"A {booking.duration_minutes}-minute coaching session with {booking.coach.name}, "
            f"booked by {booking.mentee.name} for {booking.starts_at:%Y-%m-%d %H:%M} UTC."
        ),
        "customer_name": booking.mentee.name,
        "customer_email_address": booking.mentee.email,
        "service_date": f"{booking.starts_at:%Y-%m-%d}",
        "cancellation_policy_disclosure": CANCELLATION_POLICY,
        "uncategorized_text": f"{_took_place(booking)} {receipt}",
    }


def _took_place(booking: Booking) -> str:
    ends = booking.starts_at + timedelta(minutes=booking.duration_minutes)
    if booking.status is SessionStatus.CANCELED:
        return "The session was canceled."
    if booking.status is SessionStatus.COMPLETED:
        return "The session took place."
    if ends <= utcnow():
        return "The session's time has passed and neither side canceled it."
    return "The session is still to come; the mentee has not canceled it."


def submit_evidence(transaction_id: int, evidence: dict[str, str], *, admin_id: int) -> DisputeRow:
    """Send the evidence to Stripe and submit it; the flag and the audit log note it."""
    row = dispute_of(transaction_id)
    if row.closed:
        raise DisputeError(f"This dispute is closed ({row.status}); it takes no more evidence.")
    if row.submitted:
        raise DisputeError("The evidence for this dispute was submitted already.")
    sent = {name: evidence.get(name, "").strip() for name in EVIDENCE_FIELDS}
    if not any(sent.values()):
        raise DisputeError("Give at least one piece of evidence before submitting.")
    answer = gateway.submit_evidence(row.transaction, row.id, sent)
    details: dict[str, Any] = answer.get("evidence_details") or {}
    txn = row.transaction
    flag = dict((txn.meta or {})["dispute"])
    flag["status"] = answer.get("status") or flag.get("status")
    flag["submitted"] = int(details.get("submission_count") or 0) > 0
    txn.meta = {**(txn.meta or {}), "dispute": flag}
    audit.record(
        admin_id,
        "dispute.evidence_submitted",
        "transaction",
        txn.id,
        after={"dispute": row.id, "fields": sorted(k for k, v in sent.items() if v)},
    )
    db.session.flush()
    return dispute_of(transaction_id)


@dataclass(frozen=True)
class Recovery:
    """What the dispute page says of the coach's share of a lost dispute."""

    amount: Decimal  # a preview; the recovery records Stripe's reversal
    refusal: str | None


def recovery_of(row: DisputeRow) -> Recovery | None:
    if row.status != "lost" or row.recovered is not None:
        return None
    return Recovery(
        amount=recovery.recoverable(row.transaction),
        refusal=recovery.recovery_refusal(row.transaction),
    )


def recover(transaction_id: int, *, admin_id: int) -> Decimal:
    """The admin's recovery of the coach's share of a lost dispute, in the audit log."""
    recovered = recovery.recover_coach_share(transaction_id)
    audit.record(
        admin_id,
        "dispute.share_recovered",
        "transaction",
        transaction_id,
        after={"recovered": str(recovered)},
    )
    return recovered
