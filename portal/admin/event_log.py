"""The webhook event log: every event received, filtered and paged; payloads; reprocessing.

Reprocessing goes through the webhook runner's `reprocess_event`, so an event applies once
however often it is asked for: a processed one stays a duplicate and changes nothing.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from portal import pagination as keyset
from portal.admin import audit
from portal.extensions import db
from portal.models import EventStatus, StripeEvent, User
from portal.webhooks.runner import Outcome, UnknownEvent, reprocess_event


def event_page(
    *,
    status: EventStatus | None = None,
    type_: str = "",
    after: str | None = None,
    before: str | None = None,
    size: int = 50,
) -> keyset.Page:
    query = sa.select(StripeEvent)
    if status is not None:
        query = query.where(StripeEvent.status == status)
    if type_:
        query = query.where(StripeEvent.type == type_)
    return keyset.fetch_page(
        query,
        key=StripeEvent.received_at,
        row_id=StripeEvent.id,
        kind="datetime",
        after=after,
        before=before,
        size=size,
    )


def event_types() -> list[str]:
    return list(
        db.session.scalars(sa.select(StripeEvent.type).distinct().order_by(StripeEvent.type))
    )


def event_by_stripe_id(stripe_event_id: str) -> StripeEvent | None:
    return db.session.scalar(
        sa.select(StripeEvent).where(StripeEvent.stripe_event_id == stripe_event_id)
    )


def pretty_payload(event: StripeEvent) -> str:
    """The payload as indented JSON text (the template escapes it)."""
    return json.dumps(event.payload, indent=2, sort_keys=True, default=str)


def reprocess(stripe_event_id: str, *, admin: User) -> Outcome:
    """Apply a stored event again under the runner's rules, and record who asked (committed).

    Raises UnknownEvent for an id the portal never received.
    """
    row = event_by_stripe_id(stripe_event_id)
    if row is None:
        raise UnknownEvent(stripe_event_id)
    before = {"status": row.status.value, "attempts": row.attempts, "error": row.error}
    admin_id = admin.id
    outcome = reprocess_event(stripe_event_id)  # commits or rolls back on its own
    row = event_by_stripe_id(stripe_event_id)
    audit.record(
        admin_id,
        "stripe_event.reprocessed",
        "stripe_event",
        stripe_event_id,
        before=before,
        after={
            "outcome": outcome.status,
            "status": row.status.value if row else None,
            "attempts": row.attempts if row else None,
            "error": row.error if row else None,
        },
    )
    db.session.commit()
    return outcome
