"""Money that moved: transactions, their refunds, and the ledger entries behind every balance."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User
from portal.models.base import (
    Base,
    JSONType,
    TimestampMixin,
    UTCDateTime,
    adds_up,
    index_of_values,
    money_column,
    string_enum,
    utcnow,
)
from portal.models.coaching import Booking
from portal.models.connect import Payout
from portal.models.enums import LedgerEntryKind, RefundStatus, TransactionStatus, TransactionType


class Transaction(TimestampMixin, Base):
    __tablename__ = "transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[TransactionType] = mapped_column(string_enum(TransactionType, "transaction_type"))
    status: Mapped[TransactionStatus] = mapped_column(
        string_enum(TransactionStatus, "transaction_status")
    )
    amount: Mapped[Decimal] = money_column()
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD", server_default="USD")

    stripe_payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    stripe_transfer_id: Mapped[str | None] = mapped_column(sa.String(255))

    platform_fee: Mapped[Decimal] = money_column()
    coach_share: Mapped[Decimal] = money_column("coach_payout")

    session_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("coaching_sessions.id"), index=True
    )
    payer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    coach_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)

    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)

    session: Mapped[Booking | None] = relationship()
    payer: Mapped[User] = relationship(foreign_keys=[payer_id])
    coach: Mapped[User | None] = relationship(foreign_keys=[coach_id])
    refunds: Mapped[list[Refund]] = relationship(back_populates="transaction", order_by="Refund.id")

    __table_args__ = (
        # One payment, one row: however many events speak of a PaymentIntent.
        sa.Index(
            "uq_transactions_payment_intent_type",
            "stripe_payment_intent_id",
            "type",
            unique=True,
        ),
        sa.Index("ix_transactions_created_id", "created_at", "id"),
        # The admin's list filtered by status, newest first: a range of this index, not a scan.
        sa.Index("ix_transactions_status_created", "status", "created_at", "id"),
        sa.Index("ix_transactions_coach_created", "coach_id", "created_at", "id"),
        sa.Index("ix_transactions_amount_id", "amount", "id"),
        sa.Index("ix_transactions_stripe_transfer_id", "stripe_transfer_id"),
        sa.CheckConstraint(
            adds_up("platform_fee + coach_payout", "amount"), name="fee_split_adds_up"
        ),
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    @property
    def is_disputed(self) -> bool:
        """The card's bank has a dispute on this payment: Stripe refuses refunds of it."""
        return isinstance((self.meta or {}).get("dispute"), dict)

    def __repr__(self) -> str:
        return f"<Transaction {self.id} {self.type} {self.status} {self.amount} {self.currency}>"


class Refund(TimestampMixin, Base):
    """A refund of part or all of a transaction, and what Stripe moved for it.

    While the refund is pending, `platform_fee_refunded` and `coach_share_reversed` hold a
    preview (`money.split_refund`). Once Stripe has made it, they hold Stripe's figures, as the
    ledger recorded them (`ledger.record_stripe_refund`): the application fee refund, and what
    was taken from the coach's connected account; `transfer_reversed` is the transfer
    reversal's amount (NULL until Stripe reports it). Stripe rounds each on its own, so the two
    need not add up to the amount.
    """

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(sa.ForeignKey("transactions.id"), index=True)
    stripe_refund_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    status: Mapped[RefundStatus] = mapped_column(
        string_enum(RefundStatus, "refund_status"), default=RefundStatus.PENDING
    )
    amount: Mapped[Decimal] = money_column()
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD", server_default="USD")
    platform_fee_refunded: Mapped[Decimal] = money_column()
    coach_share_reversed: Mapped[Decimal] = money_column()
    transfer_reversed: Mapped[Decimal | None] = money_column(nullable=True)
    reason: Mapped[str] = mapped_column(sa.String(255), default="")
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # The confirmation form's one-time token when an admin asked for the refund: a double
    # click submits the same token and finds this row instead of making a second refund.
    request_token: Mapped[str | None] = mapped_column(sa.String(64))

    transaction: Mapped[Transaction] = relationship(back_populates="refunds")
    requested_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.Index("uq_refunds_request_token", "request_token", unique=True),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("platform_fee_refunded >= 0", name="fee_refunded_not_negative"),
    )

    @property
    def is_pending(self) -> bool:
        """Not yet made or not yet settled at Stripe."""
        return self.status is RefundStatus.PENDING

    def __repr__(self) -> str:
        return f"<Refund {self.id} {self.amount} {self.currency} {self.status}>"


ONE_PER_TRANSACTION = sa.text("kind IN ('payment', 'dispute', 'funds_available')")


class LedgerEntry(Base):
    """One movement of a coach's balances, written only by portal.ledger.

    The coach's `total_earnings`, `pending_balance` and `available_balance` always equal the sums
    of these deltas; each entry points at the row that explains it, and the unique indexes make a
    second entry for the same cause impossible.
    """

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed by ix_ledger_entries_coach_created, which leads with it.
    coach_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[LedgerEntryKind] = mapped_column(string_enum(LedgerEntryKind, "ledger_kind"))
    currency: Mapped[str] = mapped_column(sa.String(3))
    total_delta: Mapped[Decimal] = money_column(default=Decimal("0.00"))
    pending_delta: Mapped[Decimal] = money_column(default=Decimal("0.00"))
    available_delta: Mapped[Decimal] = money_column(default=Decimal("0.00"))
    transaction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("transactions.id"), index=True)
    refund_id: Mapped[int | None] = mapped_column(sa.ForeignKey("refunds.id"))
    payout_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payouts.id"))
    stripe_event_id: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    transaction: Mapped[Transaction | None] = relationship()
    refund: Mapped[Refund | None] = relationship()
    payout: Mapped[Payout | None] = relationship()

    __table_args__ = (
        # One payment entry and one dispute reversal per transaction; refund entries also name
        # their transaction, and a transaction may have several (cumulative partial refunds).
        sa.Index(
            "uq_ledger_entries_kind_transaction",
            "kind",
            "transaction_id",
            unique=True,
            sqlite_where=ONE_PER_TRANSACTION,
            postgresql_where=ONE_PER_TRANSACTION,
        ),
        # Each cause once; a payment's entry (most entries) names none of these three.
        index_of_values("uq_ledger_entries_kind_refund", "kind", "refund_id", unique=True),
        index_of_values("uq_ledger_entries_kind_payout", "kind", "payout_id", unique=True),
        index_of_values("uq_ledger_entries_kind_event", "kind", "stripe_event_id", unique=True),
        # A coach's activity, newest first, paged by (created_at, id).
        sa.Index("ix_ledger_entries_coach_created", "coach_id", "created_at", "id"),
    )

    def __repr__(self) -> str:
        return f"<LedgerEntry {self.id} coach={self.coach_id} {self.kind}>"
