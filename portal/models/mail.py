"""The mail outbox: each message the portal owes someone, written with the change that causes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, JSONType, UTCDateTime, index_of_values, utcnow

# A message's life: pending (due at `next_attempt_at`), sending (claimed by one consumer), then
# sent; back to pending with a later `next_attempt_at` after a failed try, failed after the last.
# A message composed at delivery whose cause no longer holds (a confirmation of a booking
# canceled meanwhile) is skipped instead: never sent, its `last_error` says why.
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
SKIPPED = "skipped"


class OutboxMessage(Base):
    """One email, written with its cause and delivered by the task queue.

    Most messages are rendered when they are queued. A paid booking's are not: their row names
    the booking, and the delivery renders them (`portal.outbox.composes`) and keeps the address,
    subject, bodies and attachments it rendered, so a retry sends the same message.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the message is about ("account.password_reset"), for the record and for opt-outs.
    kind: Mapped[str] = mapped_column(sa.String(64))
    # None until a message composed at delivery is rendered.
    to_address: Mapped[str | None] = mapped_column(sa.String(254))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # The booking a message composed at delivery is about.
    booking_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("coaching_sessions.id", ondelete="SET NULL")
    )
    subject: Mapped[str | None] = mapped_column(sa.String(255))
    text_body: Mapped[str | None] = mapped_column(sa.Text)
    html_body: Mapped[str | None] = mapped_column(sa.Text)
    # Files sent with it: [{"filename", "content_type", "content"}] (text content, like .ics).
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    # Set for a message that must exist once at most ("booking.reminder:42"): unique.
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(128))
    status: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # Most messages (a paid booking's) have no key, and add nothing to this index.
        index_of_values("uq_outbox_dedupe_key", "dedupe_key", unique=True),
        sa.Index("ix_outbox_status_next_attempt", "status", "next_attempt_at"),
        sa.Index("ix_outbox_user_id", "user_id"),
    )

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.status}>"
