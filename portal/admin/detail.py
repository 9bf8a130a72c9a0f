"""One transaction as an admin needs it: parties, session, money, Stripe ids, events, refunds.

The events come from the ids recorded on each event at receipt (`object_id`,
`payment_intent_id`), so finding them is an index lookup however many events there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload, selectinload

from portal.extensions import db
from portal.models import (
    Refund,
    RefundStatus,
    StripeEvent,
    Transaction,
    TransactionStatus,
    TransactionType,
)

REFUNDABLE = (TransactionStatus.COMPLETED, TransactionStatus.PARTIALLY_REFUNDED)
ZERO = Decimal("0.00")

# Where each kind of Stripe object lives in the dashboard.
_DASHBOARD_PATHS = {
    "pi_": "payments/",
    "re_": "refunds/",
    "tr_": "connect/transfers/",
    "evt_": "events/",
    "acct_": "connect/accounts/",
    "du_": "disputes/",
    "dp_": "disputes/",
    "in_": "invoices/",
    "sub_": "subscriptions/",
}


@dataclass(frozen=True)
class Discount:
    list_price: str
    amount: str
    percentage: str


@dataclass(frozen=True)
class TransactionDetail:
    transaction: Transaction
    events: list[StripeEvent]
    refunded: Decimal
    pending: Decimal
    discount: Discount | None
    dispute: dict | None

    @property
    def refundable_left(self) -> Decimal:
        return self.transaction.amount - self.refunded - self.pending

    @property
    def can_refund(self) -> bool:
        txn = self.transaction
        return (
            txn.type is TransactionType.SESSION_PAYMENT
            and txn.status in REFUNDABLE
            and bool(txn.stripe_payment_intent_id)
            and not txn.is_disputed
            and self.refundable_left > ZERO
        )


def transaction_detail(transaction_id: int) -> TransactionDetail | None:
    txn = db.session.scalar(
        sa.select(Transaction)
        .options(
            joinedload(Transaction.payer),
            joinedload(Transaction.coach),
            joinedload(Transaction.session),
            selectinload(Transaction.refunds).joinedload(Refund.requested_by),
        )
        .where(Transaction.id == transaction_id)
    )
    if txn is None:
        return None
    meta = txn.meta or {}
    discount = None
    if meta.get("member_discount"):
        discount = Discount(
            list_price=str(meta.get("list_price", "")),
            amount=str(meta["member_discount"]),
            percentage=str(meta.get("member_discount_percentage", "")),
        )
    return TransactionDetail(
        transaction=txn,
        events=events_of(txn),
        refunded=_sum(txn.refunds, RefundStatus.SUCCEEDED),
        pending=_sum(txn.refunds, RefundStatus.PENDING),
        discount=discount,
        dispute=meta.get("dispute") if isinstance(meta.get("dispute"), dict) else None,
    )


def _sum(refunds: list[Refund], status: RefundStatus) -> Decimal:
    return sum((r.amount for r in refunds if r.status is status), ZERO)


def events_of(txn: Transaction) -> list[StripeEvent]:
    """Every received event about this payment, its checkout, transfer, refunds or dispute."""
    object_ids = [r.stripe_refund_id for r in txn.refunds if r.stripe_refund_id]
    if txn.session is not None and txn.session.stripe_checkout_session_id:
        object_ids.append(txn.session.stripe_checkout_session_id)
    if txn.stripe_transfer_id:
        object_ids.append(txn.stripe_transfer_id)
    dispute = (txn.meta or {}).get("dispute")
    if isinstance(dispute, dict) and dispute.get("id"):
        object_ids.append(str(dispute["id"]))
    match = []
    if txn.stripe_payment_intent_id:
        match.append(StripeEvent.payment_intent_id == txn.stripe_payment_intent_id)
    if object_ids:
        match.append(StripeEvent.object_id.in_(object_ids))
    if not match:
        return []
    return list(
        db.session.scalars(
            sa.select(StripeEvent)
            .where(sa.or_(*match))
            .order_by(
                sa.func.coalesce(StripeEvent.stripe_created_at, StripeEvent.received_at),
                StripeEvent.received_at,
                StripeEvent.id,
            )
        )
    )


def dashboard_base() -> str | None:
    """The Stripe dashboard for the configured key, or None (the offline stand-in, no key)."""
    config = current_app.config
    if config.get("STRIPE_API_BASE"):
        return None  # the offline sandbox (or another stand-in): Stripe's dashboard knows nothing
    key = config.get("STRIPE_SECRET_KEY") or ""
    if key.startswith(("sk_live_", "rk_live_")):
        return "https://dashboard.stripe.com"
    if key.startswith(("sk_test_", "rk_test_")):
        return "https://dashboard.stripe.com/test"
    return None


def dashboard_url(stripe_id: str | None) -> str | None:
    """A link to the object in the Stripe dashboard, when there is one to link to."""
    base = dashboard_base()
    if not stripe_id or base is None:
        return None
    for prefix, path in _DASHBOARD_PATHS.items():
        if stripe_id.startswith(prefix):
            return f"{base}/{path}{stripe_id}"
    return None
