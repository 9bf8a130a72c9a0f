"""People: users of every role and the coach's profile with its balances."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from portal.models.base import (
    Base,
    SealedString,
    TimestampMixin,
    UTCDateTime,
    money_column,
    string_enum,
)
from portal.models.caching import database_generation
from portal.models.enums import PayoutSchedule, Role

if TYPE_CHECKING:
    from portal.models.billing import PaymentMethod, Subscription
    from portal.models.coaching import CoachTopic
    from portal.models.connect import StripeConnectedAccount


class User(UserMixin, TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[Role] = mapped_column(string_enum(Role, "role"), default=Role.MENTEE)
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # Changes whenever the password changes or an admin deactivates the account, so that every
    # existing login session for the user stops being valid.
    session_token: Mapped[str] = mapped_column(sa.String(64))
    # When the person opened the link mailed to this address; booking and payouts wait for it.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Mail that is not about money or security (a session's reminder, a payout on its way, whose
    # outcome is mailed anyway); those always go.
    optional_mail: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # An IANA name (portal.time_zones): every time is shown to this person in it.
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="UTC", server_default="UTC")
    # The TOTP secret of a confirmed enrolment (None: no second factor), encrypted in the
    # database (portal.sealed). Only the code check reads it; no page shows it after enrolment.
    totp_secret: Mapped[str | None] = mapped_column(SealedString())
    # The last 30-second time step whose code was accepted: a code is refused unless its step
    # is later, so a code seen over someone's shoulder cannot be used again.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    stripe_connect_account_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    default_payment_method_id: Mapped[str | None] = mapped_column(sa.String(255))

    coach_profile: Mapped[CoachProfile | None] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    stripe_connected_account: Mapped[StripeConnectedAccount | None] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    payment_methods: Mapped[list[PaymentMethod]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    platform_subscription: Mapped[Subscription | None] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (sa.CheckConstraint("email = lower(email)", name="email_lower"),)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_secret is not None

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def is_mentee(self) -> bool:
        return self.role is Role.MENTEE

    @property
    def two_factor_required(self) -> bool:
        """Admins sign in with a second factor, always: they set it up first and keep it on."""
        return self.role is Role.ADMIN

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class RecoveryCode(Base):
    """One single-use recovery code of a person's second factor, kept as a password hash."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(255))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="recovery_codes")

    def __repr__(self) -> str:
        return f"<RecoveryCode {self.id} user={self.user_id} used={self.used_at is not None}>"


class CoachProfile(TimestampMixin, Base):
    __tablename__ = "coach_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    headline: Mapped[str] = mapped_column(sa.String(160), default="")
    bio: Mapped[str] = mapped_column(sa.Text, default="")
    session_price: Mapped[Decimal] = money_column(default=Decimal("100.00"))
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD", server_default="USD")
    session_minutes: Mapped[int] = mapped_column(default=60)
    is_published: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    payout_schedule: Mapped[PayoutSchedule] = mapped_column(
        string_enum(PayoutSchedule, "payout_schedule"),
        default=PayoutSchedule.INSTANT,
        server_default=PayoutSchedule.INSTANT.value,
    )
    platform_fee_percentage: Mapped[Decimal] = mapped_column(
        sa.Numeric(5, 2), default=Decimal("20.00"), server_default="20.00"
    )
    minimum_payout: Mapped[Decimal] = money_column(
        default=Decimal("100.00"), server_default="100.00"
    )
    # Written only by portal.ledger, in the same transaction as the row that explains the change.
    total_earnings: Mapped[Decimal] = money_column(default=Decimal("0.00"), server_default="0.00")
    available_balance: Mapped[Decimal] = money_column(
        default=Decimal("0.00"), server_default="0.00"
    )
    pending_balance: Mapped[Decimal] = money_column(default=Decimal("0.00"), server_default="0.00")
    # How many ledger entries this coach has: the ledger adds one with every entry, under the
    # coach's row lock, so the number names one version of the coach's history (the earnings
    # dashboard caches what it reads from the entries under it).
    ledger_entry_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # How many times what the directory and the coach's page show of this coach changed: raised
    # under the coach's row lock by `portal.caching.bump_listings` (profile, name, open times,
    # holds, charges), so it names one version of the coach's listing.
    listing_changes: Mapped[int] = mapped_column(default=0, server_default="0")
    # The database's generation (`models.caching`), read with the profile, so the counters
    # above and the life of the database they count in come in one statement.
    database_generation: Mapped[str] = column_property(database_generation())

    user: Mapped[User] = relationship(back_populates="coach_profile")
    topics: Mapped[list[CoachTopic]] = relationship(
        primaryjoin="CoachProfile.user_id == foreign(CoachTopic.coach_id)",
        order_by="CoachTopic.topic",
        cascade="all, delete-orphan",
    )

    __table_args__ = (
        sa.CheckConstraint("session_price >= 0", name="session_price_not_negative"),
        sa.CheckConstraint(
            "platform_fee_percentage >= 0 AND platform_fee_percentage <= 100",
            name="platform_fee_percentage_range",
        ),
        sa.CheckConstraint("minimum_payout >= 0", name="minimum_payout_not_negative"),
        sa.CheckConstraint("session_minutes > 0", name="session_minutes_positive"),
        sa.CheckConstraint("ledger_entry_count >= 0", name="ledger_entry_count_not_negative"),
        sa.CheckConstraint("listing_changes >= 0", name="listing_changes_not_negative"),
    )

    def __repr__(self) -> str:
        return f"<CoachProfile {self.id} user={self.user_id}>"
