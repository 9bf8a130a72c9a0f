"""What a lost dispute costs the coach: the platform absorbs it, or recovers the coach's share.

What it promises:

- `DISPUTE_LOST_COACH_SHARE` (config) decides: `absorb` (the platform bears the loss, the coach
  keeps the share), `recover` (an admin sees the amount and confirms the recovery) or
  `recover_automatically` (the recovery happens when Stripe says the dispute is lost).
- A recovery is one Stripe transfer reversal of the coach's share not yet reversed, keyed by the
  transaction, so a double click or a redelivered event recovers once. The ledger then takes
  the amount Stripe reversed (never the preview) from the coach's available balance, which may
  go below zero, as it does at Stripe; the dispute's flag notes the reversal for the coach's
  page, the admin's and reconciliation.
- `recoverable` is a preview only: what the coach's transfer still holds of this payment.
- The coach of a disputed session and the admins are told of a new dispute by email, the
  coach of a recovery too, once each, in the unit of work that records it.

Services add and flush; the caller commits.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from portal import ledger
from portal.errors import PortalError
from portal.extensions import db
from portal.models import Refund, RefundStatus, Transaction
from portal.money import format_money, from_minor_units, to_minor_units
from portal.outbox import queue_mail, queue_mail_to_admins, when
from portal.stripe_gateway import disputes as gateway

logger = logging.getLogger("portal.disputes")

ABSORB, RECOVER, RECOVER_AUTOMATICALLY = "absorb", "recover", "recover_automatically"
POLICIES = (ABSORB, RECOVER, RECOVER_AUTOMATICALLY)


class RecoveryError(PortalError):
    """A recovery that cannot be made; the message says why."""


def lost_dispute_policy() -> str:
    policy = str(current_app.config.get("DISPUTE_LOST_COACH_SHARE") or RECOVER).strip().lower()
    if policy not in POLICIES:
        raise RuntimeError(
            f"DISPUTE_LOST_COACH_SHARE is {policy!r}; set it to one of {', '.join(POLICIES)}."
        )
    return policy


def recoverable(transaction: Transaction) -> Decimal:
    """The coach's share of this payment not yet taken back (a preview; Stripe's figure rules)."""
    reversed_by_refunds = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Refund.coach_share_reversed), 0)).where(
            Refund.transaction_id == transaction.id, Refund.status == RefundStatus.SUCCEEDED
        )
    )
    return max(transaction.coach_share - Decimal(reversed_by_refunds), Decimal("0.00"))


def recovery_refusal(transaction: Transaction) -> str | None:
    """Why the coach's share of this payment cannot be recovered now, or None if it can."""
    flag = (transaction.meta or {}).get("dispute") or {}
    if flag.get("status") != "lost":
        return "Only a lost dispute's share is recovered from the coach."
    if flag.get("recovered"):
        return f"The coach's share was recovered already ({flag['recovered']})."
    if lost_dispute_policy() == ABSORB:
        return "The platform absorbs lost disputes (DISPUTE_LOST_COACH_SHARE is absorb)."
    if transaction.coach_id is None or recoverable(transaction) <= 0:
        return "Nothing of this payment is left with the coach to recover."
    return None


def recover_coach_share(transaction_id: int) -> Decimal:
    """Reverse the coach's share of a lost dispute at Stripe and take it from their balance."""
    transaction = ledger.lock_payment(
        sa.select(Transaction).where(Transaction.id == transaction_id)
    )
    if transaction is None:
        raise LookupError(transaction_id)
    refusal = recovery_refusal(transaction)
    if refusal is not None:
        raise RecoveryError(refusal)
    share = to_minor_units(recoverable(transaction), transaction.currency)
    reversal = gateway.reverse_transfer_for_dispute(transaction, share)
    recovered = from_minor_units(int(reversal["amount"]), transaction.currency)
    ledger.record_dispute_reversal(transaction, recovered, stripe_event_id=reversal["id"])
    flag = dict((transaction.meta or {})["dispute"])
    flag.update(recovered=str(recovered), reversal=reversal["id"])
    transaction.meta = {**(transaction.meta or {}), "dispute": flag}
    logger.info(
        "Recovered %s %s of transaction %s from coach %s for a lost dispute (%s)",
        recovered,
        transaction.currency,
        transaction.id,
        transaction.coach_id,
        reversal["id"],
    )
    tell_coach_of_recovery(transaction, recovered)
    db.session.flush()
    return recovered


def tell_coach_of_recovery(transaction: Transaction, recovered: Decimal) -> None:
    """The coach hears by email of a recovery, once (the portal's own telling needs nothing
    more: the coach's activity lists the ledger's entry and the dashboard explains the balance
    it leaves)."""
    coach, booking = transaction.coach, transaction.session
    if coach is None:
        return
    amount = format_money(recovered, transaction.currency)
    queue_mail(
        "dispute.share_recovered",
        coach,
        f"{amount} taken back from your balance: a lost dispute",
        "dispute_recovered",
        dedupe_key=f"dispute.share_recovered:{transaction.id}",
        booking=booking,
        when=when(booking.starts_at, coach) if booking else None,
        amount=amount,
    )


# --- telling people of a dispute -------------------------------------------------------------


def tell_of_new_dispute(transaction: Transaction) -> None:
    """The coach of the disputed session and every admin hear of a dispute, once each.

    Called for every dispute event the portal applies; the dispute's id keys each message, so
    a redelivered, reordered or later event about the same dispute tells nothing again.
    """
    flag = (transaction.meta or {}).get("dispute") or {}
    dispute_id = str(flag.get("id") or "")
    if not dispute_id:
        return
    due_by = flag.get("due_by")
    deadline = datetime.fromtimestamp(due_by, UTC) if isinstance(due_by, int) else None
    currency = str(flag.get("currency") or transaction.currency)
    context = {
        "transaction": transaction,
        "booking": transaction.session,
        "amount": format_money(Decimal(str(flag.get("amount") or transaction.amount)), currency),
        "reason": str(flag.get("reason") or "general").replace("_", " "),
        "status": str(flag.get("status") or "").replace("_", " "),
        "closed": bool(flag.get("closed")),
    }
    booking, coach = transaction.session, transaction.coach
    if coach is not None:
        queue_mail(
            "dispute.opened_coach",
            coach,
            f"A payment for your session was disputed: {context['amount']}",
            "dispute_opened_coach",
            dedupe_key=f"dispute.opened_coach:{dispute_id}",
            when=when(booking.starts_at, coach) if booking else None,
            policy=lost_dispute_policy(),
            share=format_money(transaction.coach_share, transaction.currency),
            **context,
        )
    queue_mail_to_admins(
        "dispute.opened_admin",
        f"Dispute opened: {context['amount']}, evidence due "
        f"{when(deadline) if deadline else 'date unknown'}",
        "admin_dispute_opened",
        dedupe_key=f"dispute.opened_admin:{dispute_id}",
        deadline=when(deadline) if deadline else None,
        when=when(booking.starts_at) if booking else None,
        **context,
    )
