"""Billing for mentees: saved cards, the platform membership and its invoices."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User
from portal.models.base import Base, TimestampMixin, UTCDateTime, money_column, string_enum
from portal.models.enums import MEMBER_STATUSES, BillingInterval, InvoiceStatus, SubscriptionStatus


class PaymentMethod(TimestampMixin, Base):
    """A card kept at Stripe; the portal holds only its id, brand, last four digits and expiry."""

    __tablename__ = "payment_methods"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    stripe_payment_method_id: Mapped[str] = mapped_column(sa.String(255))
    type: Mapped[str] = mapped_column(sa.String(32))
    brand: Mapped[str] = mapped_column(sa.String(32))
    last4: Mapped[str] = mapped_column(sa.String(4))
    expiry_month: Mapped[int | None]
    expiry_year: Mapped[int | None]
    is_default: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Stripe's `card.fingerprint`: the same for the same card number, so one row per card.
    fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    # The mentee asked to keep this card; only such a card is offered for one-click payment.
    chosen: Mapped[bool] = mapped_column(default=False, server_default=sa.true())

    user: Mapped[User] = relationship(back_populates="payment_methods")

    __table_args__ = (
        sa.UniqueConstraint("user_id", "stripe_payment_method_id"),
        sa.Index("ix_payment_methods_user_id_fingerprint", "user_id", "fingerprint"),
        sa.CheckConstraint("length(last4) = 4", name="last4_four_digits"),
        sa.CheckConstraint(
            "expiry_month IS NULL OR (expiry_month >= 1 AND expiry_month <= 12)",
            name="expiry_month_range",
        ),
    )

    def __repr__(self) -> str:
        return f"<PaymentMethod {self.id} {self.brand} *{self.last4}>"


class Subscription(TimestampMixin, Base):
    """A mentee's platform membership, mirrored from Stripe's subscription."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    stripe_subscription_id: Mapped[str] = mapped_column(sa.String(255), unique=True, index=True)
    stripe_price_id: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[SubscriptionStatus] = mapped_column(
        string_enum(SubscriptionStatus, "subscription_status")
    )
    current_period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    current_period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    amount: Mapped[Decimal] = money_column()
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD", server_default="USD")
    interval: Mapped[BillingInterval] = mapped_column(
        string_enum(BillingInterval, "billing_interval")
    )

    user: Mapped[User] = relationship(back_populates="platform_subscription")
    invoices: Mapped[list[Invoice]] = relationship(back_populates="subscription")

    @property
    def makes_member(self) -> bool:
        """Active or trialing: its mentee is a member and gets the member discount."""
        return self.status in MEMBER_STATUSES

    def __repr__(self) -> str:
        return f"<Subscription {self.stripe_subscription_id} {self.status}>"


class Invoice(TimestampMixin, Base):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_invoice_id: Mapped[str] = mapped_column(sa.String(255), unique=True, index=True)
    amount: Mapped[Decimal] = money_column()
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD", server_default="USD")
    status: Mapped[InvoiceStatus] = mapped_column(string_enum(InvoiceStatus, "invoice_status"))

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    subscription_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("subscriptions.id"), index=True
    )

    invoice_url: Mapped[str | None] = mapped_column(sa.String(2048))
    invoice_pdf: Mapped[str | None] = mapped_column(sa.String(2048))

    due_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()
    subscription: Mapped[Subscription | None] = relationship(back_populates="invoices")

    # A mentee's invoices, newest first, paged by (created_at, id).
    __table_args__ = (sa.Index("ix_invoices_user_created", "user_id", "created_at", "id"),)

    @property
    def is_open(self) -> bool:
        """Finalised and not yet paid: Stripe will try to collect it again."""
        return self.status is InvoiceStatus.OPEN

    def __repr__(self) -> str:
        return f"<Invoice {self.stripe_invoice_id} {self.amount} {self.status}>"
