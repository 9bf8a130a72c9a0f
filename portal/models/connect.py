"""Stripe Connect: each coach's Express account and the payouts made from it."""

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
    money_column,
    string_enum,
)
from portal.models.enums import PayoutStatus


class StripeConnectedAccount(TimestampMixin, Base):
    __tablename__ = "stripe_connected_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    stripe_account_id: Mapped[str] = mapped_column(sa.String(255), unique=True, index=True)
    payouts_enabled: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    details_submitted: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    charges_enabled: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    country: Mapped[str] = mapped_column(sa.String(2))
    default_currency: Mapped[str] = mapped_column(sa.String(3), default="USD", server_default="USD")
    requires_onboarding: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    business_type: Mapped[str | None] = mapped_column(sa.String(32))
    business_profile: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    verification_status: Mapped[str | None] = mapped_column(sa.String(32))
    requirements: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # How many times this account's payouts were recorded or moved on: the payouts service adds
    # one with each, under the account's row lock, so the number names one version of the
    # coach's payouts (the earnings dashboard keeps its payouts list under it).
    payout_changes: Mapped[int] = mapped_column(default=0, server_default="0")
    # When Stripe last released funds on the account (the newest `balance.available` applied):
    # a payment recorded after it reads the balance from Stripe instead of waiting in pending.
    balance_released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="stripe_connected_account")
    payouts: Mapped[list[Payout]] = relationship(back_populates="connected_account")

    __table_args__ = (
        sa.CheckConstraint("payout_changes >= 0", name="payout_changes_not_negative"),
    )

    def __repr__(self) -> str:
        return f"<StripeConnectedAccount {self.stripe_account_id} user={self.user_id}>"


class Payout(TimestampMixin, Base):
    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_payout_id: Mapped[str] = mapped_column(sa.String(255), unique=True, index=True)
    amount: Mapped[Decimal] = money_column()
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD", server_default="USD")
    status: Mapped[PayoutStatus] = mapped_column(
        string_enum(PayoutStatus, "payout_status"),
        default=PayoutStatus.PENDING,
        server_default=PayoutStatus.PENDING.value,
    )

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    connected_account_id: Mapped[int] = mapped_column(sa.ForeignKey("stripe_connected_accounts.id"))

    arrival_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)

    user: Mapped[User] = relationship()
    connected_account: Mapped[StripeConnectedAccount] = relationship(back_populates="payouts")

    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.Index("ix_payouts_user_created", "user_id", "created_at"),
    )

    def __repr__(self) -> str:
        return f"<Payout {self.stripe_payout_id} {self.amount} {self.currency} {self.status}>"
