"""What happened: Stripe's webhook events as received, and every admin action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User
from portal.models.base import Base, JSONType, UTCDateTime, index_of_values, string_enum, utcnow
from portal.models.enums import EventStatus


class StripeEvent(Base):
    """A Stripe event the portal has seen. Its unique id is what makes an event apply once."""

    __tablename__ = "stripe_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_event_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    type: Mapped[str] = mapped_column(sa.String(100), index=True)
    account: Mapped[str | None] = mapped_column(sa.String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[EventStatus] = mapped_column(string_enum(EventStatus, "event_status"))
    error: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=1, server_default="1")
    stripe_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Which Stripe objects the event is about, copied from the payload at receipt so that a
    # payment's events are found by index (admin pages) rather than by scanning JSON.
    object_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    # The Stripe object a deferred event waits for (a PaymentIntent the portal has not recorded).
    waiting_for: Mapped[str | None] = mapped_column(sa.String(255))

    __table_args__ = (
        sa.Index("ix_stripe_events_received", "received_at", "id"),
        # Looked up after every applied event; only a deferred one has a value.
        index_of_values("ix_stripe_events_waiting_for", "waiting_for"),
    )

    @staticmethod
    def related_ids(event: dict[str, Any]) -> dict[str, str | None]:
        """`object_id` and `payment_intent_id` for an event payload (None where absent)."""
        obj = (event.get("data") or {}).get("object") or {}
        object_id = obj.get("id") if isinstance(obj.get("id"), str) else None
        intent = obj.get("payment_intent")
        if isinstance(intent, dict):
            intent = intent.get("id")
        if object_id and object_id.startswith("pi_"):
            intent = object_id
        return {
            "object_id": object_id[:255] if object_id else None,
            "payment_intent_id": intent[:255] if isinstance(intent, str) and intent else None,
        }

    @property
    def is_failed(self) -> bool:
        """Its handler raised; an admin may reprocess it."""
        return self.status is EventStatus.FAILED

    def __repr__(self) -> str:
        return f"<StripeEvent {self.stripe_event_id} {self.type} {self.status}>"


class AuditLog(Base):
    """Who did what to which record, with the values before and after."""

    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(100))
    target_type: Mapped[str] = mapped_column(sa.String(64))
    target_id: Mapped[str] = mapped_column(sa.String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    actor: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<AuditLog {self.id} {self.action} {self.target_type}:{self.target_id}>"
