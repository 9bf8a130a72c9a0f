"""Coaching: the open times a coach offers and the bookings mentees make of them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User
from portal.models.base import (
    Base,
    TimestampMixin,
    UTCDateTime,
    adds_up,
    money_column,
    string_enum,
)
from portal.models.enums import PaymentStatus, SessionStatus

# A booking in one of these states holds its slot; the partial unique index below enforces it.
HOLDING_STATUSES = (SessionStatus.PENDING_PAYMENT.value, SessionStatus.CONFIRMED.value)
_HOLDING_SQL = sa.text("status IN ('pending_payment', 'confirmed')")


# What a coach can help with, as the directory filters by it: slug -> what people read.
TOPICS = {
    "career": "Career moves",
    "leadership": "Leadership",
    "interviews": "Interviews",
    "engineering": "Software engineering",
    "product": "Product management",
    "design": "Design",
    "data": "Data and analytics",
    "startups": "Startups",
}


class CoachTopic(Base):
    """One topic a coach offers sessions on (one of `TOPICS`)."""

    __tablename__ = "coach_topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    coach_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(sa.String(32))

    __table_args__ = (
        sa.UniqueConstraint("coach_id", "topic"),
        sa.Index("ix_coach_topics_topic_coach_id", "topic", "coach_id"),
    )

    @property
    def label(self) -> str:
        return TOPICS.get(self.topic, self.topic)

    def __repr__(self) -> str:
        return f"<CoachTopic coach={self.coach_id} {self.topic}>"


class AvailabilitySlot(TimestampMixin, Base):
    __tablename__ = "availability_slots"

    id: Mapped[int] = mapped_column(primary_key=True)
    coach_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int] = mapped_column(default=60)

    coach: Mapped[User] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("coach_id", "starts_at"),
        sa.CheckConstraint("duration_minutes > 0", name="duration_positive"),
    )

    def __repr__(self) -> str:
        return f"<AvailabilitySlot {self.id} coach={self.coach_id} {self.starts_at:%Y-%m-%d %H:%M}>"


class Booking(TimestampMixin, Base):
    """One booked hour (or so) between a coach and a mentee (the seed's `Session`; its table
    keeps the seed's name)."""

    __tablename__ = "coaching_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    coach_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    mentee_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    slot_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("availability_slots.id", ondelete="SET NULL")
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int] = mapped_column(default=60)
    status: Mapped[SessionStatus] = mapped_column(
        string_enum(SessionStatus, "session_status"), default=SessionStatus.PENDING_PAYMENT
    )
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)

    price_amount: Mapped[Decimal] = money_column()
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD", server_default="USD")
    platform_fee_amount: Mapped[Decimal] = money_column()
    coach_share: Mapped[Decimal] = money_column("coach_payout_amount")
    # The member discount the price already has off the list price (see `bookings.pricing`).
    discount_amount: Mapped[Decimal] = money_column(default=Decimal("0.00"), server_default="0")
    discount_percentage: Mapped[Decimal] = mapped_column(
        sa.Numeric(5, 2, asdecimal=True), default=Decimal("0.00"), server_default="0"
    )
    payment_status: Mapped[PaymentStatus] = mapped_column(
        string_enum(PaymentStatus, "payment_status"),
        default=PaymentStatus.PENDING,
        server_default=PaymentStatus.PENDING.value,
    )
    # Not indexed: no query looks a booking up by it (a payment is found in `transactions`).
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255))

    coach: Mapped[User] = relationship(foreign_keys=[coach_id])
    mentee: Mapped[User] = relationship(foreign_keys=[mentee_id])
    slot: Mapped[AvailabilitySlot | None] = relationship()

    __table_args__ = (
        sa.Index(
            "uq_coaching_sessions_slot_held",
            "slot_id",
            unique=True,
            sqlite_where=_HOLDING_SQL,
            postgresql_where=_HOLDING_SQL,
        ),
        sa.Index("ix_coaching_sessions_mentee_starts", "mentee_id", "starts_at"),
        sa.Index("ix_coaching_sessions_coach_starts", "coach_id", "starts_at"),
        sa.CheckConstraint(
            adds_up("platform_fee_amount + coach_payout_amount", "price_amount"),
            name="fee_split_adds_up",
        ),
        sa.CheckConstraint("price_amount >= 0", name="price_not_negative"),
    )

    @property
    def awaiting_payment(self) -> bool:
        """Held for a mentee who has not paid yet."""
        return self.status is SessionStatus.PENDING_PAYMENT

    @property
    def is_confirmed(self) -> bool:
        return self.status is SessionStatus.CONFIRMED

    @property
    def is_canceled(self) -> bool:
        return self.status is SessionStatus.CANCELED

    @property
    def holds_slot(self) -> bool:
        """Still to take place: awaiting payment or confirmed (cancelable while so)."""
        return self.status in (SessionStatus.PENDING_PAYMENT, SessionStatus.CONFIRMED)

    @property
    def is_paid(self) -> bool:
        return self.payment_status is PaymentStatus.PAID

    @property
    def payment_processing(self) -> bool:
        """The bank has still to confirm a payment that was made."""
        return self.payment_status is PaymentStatus.PROCESSING

    @property
    def payment_failed(self) -> bool:
        return self.payment_status is PaymentStatus.FAILED

    @property
    def payment_canceled(self) -> bool:
        """Released unpaid: nothing was charged."""
        return self.payment_status is PaymentStatus.CANCELED

    @property
    def was_paid(self) -> bool:
        """Its payment went through (it may have been refunded since)."""
        return self.payment_status in (
            PaymentStatus.PAID,
            PaymentStatus.REFUNDED,
            PaymentStatus.PARTIALLY_REFUNDED,
        )

    @property
    def list_price_amount(self) -> Decimal:
        """The coach's price before the member discount."""
        return self.price_amount + self.discount_amount

    def __repr__(self) -> str:
        return f"<Booking {self.id} {self.status} {self.payment_status}>"
