"""An admin refunds a transaction, in full or in part, through the one refund path.

The refund itself is `portal.bookings.cancellation`'s: a local `Refund` first (split exactly by
`money.split_refund`, cumulative partial refunds included), committed before Stripe is asked,
with that row's id as the Stripe idempotency key. This module adds what an admin needs around
it: a preview for the confirmation step, a refusal a person can act on, the confirmation
form's token (a double click finds the refund the first click made), and the audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from portal import ledger
from portal.admin import audit
from portal.admin.detail import REFUNDABLE
from portal.bookings import cancellation
from portal.errors import PortalError
from portal.extensions import db
from portal.models import Refund, RefundStatus, Transaction, TransactionType, User
from portal.money import MoneyError, format_money, split_refund


class AdminRefundError(PortalError):
    """The refund cannot be made; `message` says why and what to do."""


@dataclass(frozen=True)
class RefundPreview:
    transaction: Transaction
    amount: Decimal
    platform_fee_refunded: Decimal
    coach_share_reversed: Decimal
    left_after: Decimal


def preview(transaction_id: int, amount: Decimal | None) -> RefundPreview:
    """What refunding `amount` (None: all that is left) would do; raises AdminRefundError."""
    txn = _refundable(transaction_id)
    already = cancellation.refunded_or_pending(txn)
    value = txn.amount - already if amount is None else amount
    try:
        split = split_refund(value, cancellation.original_split(txn), txn.currency, already)
    except MoneyError as exc:
        raise AdminRefundError(str(exc)) from exc
    return RefundPreview(
        txn,
        value,
        split.platform_fee_refunded,
        split.coach_share_reversed,
        txn.amount - already - value,
    )


def request(
    transaction_id: int,
    *,
    admin: User,
    amount: Decimal,
    reason: str,
    request_token: str,
) -> Refund:
    """The pending refund for this confirmation, made once per token (flushed).

    The same token again returns the refund it made, whatever its state.
    """
    existing = refund_for_token(request_token)
    if existing is not None:
        return existing
    txn = _refundable(transaction_id, lock=True)
    already = cancellation.refunded_or_pending(txn)
    try:
        refund = cancellation.request_refund(
            txn, requested_by=admin, reason=reason, amount=amount, request_token=request_token
        )
    except MoneyError as exc:
        raise AdminRefundError(str(exc)) from exc
    audit.record(
        admin.id,
        "transaction.refund_requested",
        "transaction",
        txn.id,
        before={"status": txn.status.value, "refunded_or_pending": str(already)},
        after={
            "refund_id": refund.id,
            "amount": str(refund.amount),
            "currency": refund.currency,
            "reason": reason,
        },
    )
    return refund


def submit(refund_id: int, *, admin: User | None = None) -> Refund:
    """Ask Stripe for a pending refund (idempotent); a GatewayError leaves it pending."""
    refund = cancellation.submit_refund(refund_id)
    if admin is not None:
        audit.record(
            admin.id,
            "refund.submitted",
            "refund",
            refund.id,
            after={"status": refund.status.value, "stripe_refund_id": refund.stripe_refund_id},
        )
    return refund


def refund_for_token(request_token: str) -> Refund | None:
    return db.session.scalar(sa.select(Refund).where(Refund.request_token == request_token))


def describe(refund: Refund) -> str:
    amount = format_money(refund.amount, refund.currency)
    if refund.status is RefundStatus.SUCCEEDED:
        return f"Refunded {amount}."
    if refund.status is RefundStatus.PENDING:
        return f"The refund of {amount} is waiting for Stripe."
    return f"Stripe did not make the refund of {amount} ({refund.status.value})."


def _refundable(transaction_id: int, *, lock: bool = False) -> Transaction:
    query = sa.select(Transaction).where(Transaction.id == transaction_id)
    # Two admins refunding the same payment take turns; the coach's balances are locked first,
    # as every path that locks a payment does (`ledger.lock_payment`).
    txn = ledger.lock_payment(query) if lock else db.session.scalar(query)
    if txn is None:
        raise LookupError(transaction_id)
    if txn.type is not TransactionType.SESSION_PAYMENT or not txn.stripe_payment_intent_id:
        raise AdminRefundError("Only session payments made through Stripe can be refunded here.")
    if txn.is_disputed:
        raise AdminRefundError(cancellation.DISPUTED_MESSAGE)
    if txn.status not in REFUNDABLE:
        raise AdminRefundError(
            f"This payment is {txn.status.value.replace('_', ' ')}, so it cannot be refunded."
        )
    return txn
