"""Applying a verified Stripe event exactly once.

What `apply_event` promises:

- Recording the event and applying it happen in ONE database transaction: the `stripe_events`
  row is inserted first, already saying `processed` (a fresh row is invisible to everyone else
  until the commit, so nobody sees that claim before the handler's work is in), the handler
  runs, and everything commits together; only an ignored event costs one more `UPDATE`. When
  the row exists already it is locked and read instead: an event already processed or ignored
  is a duplicate and changes nothing; a failed one is applied and marked processed.
- Two workers with the same event at the same moment apply it once: the second blocks on the
  unique index (PostgreSQL: `INSERT ... ON CONFLICT DO NOTHING`, then `SELECT ... FOR UPDATE`;
  SQLite: the insert takes the database's single write lock) and then finds it processed.
- A handler that raises rolls back everything it did; then, in a fresh transaction, the event
  is recorded as `failed` with the error and one more attempt, so admins see it, and the caller
  answers 500 so Stripe retries. A failed row is not a duplicate: the next delivery applies it.
  An event that keeps failing is mailed to the admins, once (`notices`).
- An event type with no handler, or one whose handler returns `dispatch.IGNORED`, is recorded
  as `ignored` and acknowledged.
- Nothing is dropped for arriving early: an event whose handler returns `wait_for(id)`
  (a dispute or a refund of a payment the portal has not recorded yet) is recorded as
  `deferred`, waiting for that object, and acknowledged. It is not a duplicate: its
  redelivery applies it again. Once an event about that object has been applied, each event
  waiting for it is applied by the same rules, in its own transaction, oldest first.

`apply_event` commits (or rolls back) the session itself: call it with no other work pending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from portal.database import read_before_transaction
from portal.extensions import db
from portal.inserts import DialectInsert, once_per_dialect
from portal.models import EventStatus, StripeEvent, utcnow
from portal.webhooks import WaitFor, dispatch, notices

logger = logging.getLogger("portal.webhooks")

PROCESSED = "processed"
IGNORED = "ignored"
DUPLICATE = "duplicate"
FAILED = "failed"
ERROR_LIMIT = 2000
# An event in one of these states is a duplicate when it comes again; a failed or deferred one
# is applied again.
SETTLED = (EventStatus.PROCESSED, EventStatus.IGNORED)


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery: processed, ignored, duplicate or failed."""

    status: str
    stripe_event_id: str
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAILED


class UnknownEvent(LookupError):
    """`reprocess_event` was given an id the portal never received."""


def apply_event(event: dict[str, Any]) -> Outcome:
    """Record and apply one verified event, once; commits or rolls back the session."""
    event_id = event["id"]
    try:
        row = _insert_or_lock(event, EventStatus.PROCESSED, processed_at=utcnow())
        if row is not None and row.status in SETTLED:
            db.session.rollback()
            return Outcome(DUPLICATE, event_id, f"already {row.status.value}")
        status, waiting_for = _dispatch(event)
        if row is None:  # inserted by us, as processed
            if status is not EventStatus.PROCESSED:
                db.session.execute(
                    sa.update(StripeEvent)
                    .where(StripeEvent.stripe_event_id == event_id)
                    .values(status=status, waiting_for=waiting_for)
                )
        else:  # a failed or deferred delivery, applied now
            row.status = status
            row.waiting_for = waiting_for
            row.error = None
            row.attempts = (row.attempts or 0) + 1
            row.processed_at = utcnow()
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        logger.exception("Stripe event %s (%s) failed", event_id, event.get("type"))
        _record_failure(event, exc)
        return Outcome(FAILED, event_id, _describe(exc))
    logger.info("Stripe event %s (%s) %s", event_id, event.get("type"), status.value)
    if status is EventStatus.DEFERRED and waiting_for is not None:
        if _object_was_applied(waiting_for, besides=event_id):
            _reapply_once(event)  # its object was recorded while this event was being deferred
    elif status is EventStatus.PROCESSED:
        for object_id in sorted(set(StripeEvent.related_ids(event).values()) - {None}):
            _apply_waiting(object_id, after=event_id)
    return Outcome(status.value, event_id)


def _apply_waiting(object_id: str, *, after: str) -> None:
    """Apply the events deferred until `object_id` appeared, oldest first, each on its own."""
    with read_before_transaction():  # most often there are none: one statement, no BEGIN
        waiting = db.session.scalars(_WAITING, {"object_id": object_id, "after": after}).all()
    db.session.rollback()
    for payload in waiting:
        outcome = apply_event(payload)
        logger.info(
            "Deferred Stripe event %s, waiting for %s: %s", payload["id"], object_id, outcome.status
        )


# Read after every applied event: built once, since building a statement costs more than
# running it, and of the table's columns, which the ORM need not make sense of.
_EVENTS = StripeEvent.__table__
_WAITING = (
    sa.select(_EVENTS.c.payload)
    .where(
        _EVENTS.c.status == EventStatus.DEFERRED,
        _EVENTS.c.waiting_for == sa.bindparam("object_id"),
        _EVENTS.c.stripe_event_id != sa.bindparam("after"),
    )
    .order_by(_EVENTS.c.stripe_created_at, _EVENTS.c.id)
)


def _reapply_once(payload: dict[str, Any]) -> None:
    """Dispatch a deferred event once more; still deferred, it stays so (no further retry)."""
    row = _insert_or_lock(payload, EventStatus.PROCESSED, processed_at=utcnow())
    try:
        if row is None or row.status is not EventStatus.DEFERRED:
            db.session.rollback()
            return
        status, waiting_for = _dispatch(payload)
        row.status, row.waiting_for = status, waiting_for
        row.processed_at = utcnow()
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        logger.exception("Deferred Stripe event %s failed", payload.get("id"))
        _record_failure(payload, exc)


def _object_was_applied(object_id: str, *, besides: str) -> bool:
    about = sa.or_(StripeEvent.object_id == object_id, StripeEvent.payment_intent_id == object_id)
    found = db.session.scalar(
        sa.select(StripeEvent.id)
        .where(
            about,
            StripeEvent.status == EventStatus.PROCESSED,
            StripeEvent.stripe_event_id != besides,
        )
        .limit(1)
    )
    db.session.rollback()
    return found is not None


def reprocess_event(stripe_event_id: str) -> Outcome:
    """Apply a stored event again, under the same rules (a processed one stays a duplicate)."""
    payload = db.session.scalar(
        sa.select(StripeEvent.payload).where(StripeEvent.stripe_event_id == stripe_event_id)
    )
    db.session.rollback()
    if payload is None:
        raise UnknownEvent(f"No Stripe event {stripe_event_id} has been received.")
    return apply_event(payload)


def is_settled(stripe_event_id: str) -> bool:
    """True when the event was processed or ignored (a failed or unseen one is not)."""
    status = db.session.scalar(
        sa.select(StripeEvent.status).where(StripeEvent.stripe_event_id == stripe_event_id)
    )
    return status in SETTLED


def _dispatch(event: dict[str, Any]) -> tuple[EventStatus, str | None]:
    """Run the event's handler: its status, and the object it waits for if it is deferred."""
    handler = dispatch.handler_for(event["type"])
    if handler is None:
        return EventStatus.IGNORED, None
    result = handler(event)
    db.session.flush()
    if isinstance(result, WaitFor):
        return EventStatus.DEFERRED, result.object_id
    return (EventStatus.IGNORED if result == dispatch.IGNORED else EventStatus.PROCESSED), None


def _insert_or_lock(
    event: dict[str, Any], status: EventStatus, **fields: Any
) -> StripeEvent | None:
    """Insert the event's row as `status` with one attempt and `fields`; None when that worked.

    When the row exists already, nothing is inserted and the existing row comes back, locked for
    this transaction (`SELECT ... FOR UPDATE`). A row we inserted needs no lock: nobody else sees
    it before our commit, and a concurrent insert of the same id waits on the unique index until
    we commit or roll back. The insert is the transaction's first statement, so on SQLite it takes
    the write lock before anything is read.
    """
    values = {
        "stripe_event_id": event["id"],
        "type": str(event.get("type", ""))[:100],
        "account": event.get("account"),
        "payload": event,
        "status": status,
        "attempts": 1,
        "stripe_created_at": _timestamp(event.get("created")),
        "received_at": utcnow(),
        **StripeEvent.related_ids(event),  # for finding a payment's events by index
        **fields,
    }
    if db.session.scalar(_insert_event(), values) is not None:
        return None
    return db.session.scalars(
        sa.select(StripeEvent)
        .where(StripeEvent.stripe_event_id == event["id"])
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


@once_per_dialect
def _insert_event(insert: DialectInsert) -> sa.Insert:
    """INSERT ... ON CONFLICT (stripe_event_id) DO NOTHING RETURNING id, built once."""
    events = StripeEvent.__table__
    return (
        insert(events)
        .on_conflict_do_nothing(index_elements=[events.c.stripe_event_id])
        .returning(events.c.id)
    )


def _record_failure(event: dict[str, Any], exc: BaseException) -> None:
    """In a fresh transaction: mark the event failed (unless someone else has applied it)."""
    error = _describe(exc)[:ERROR_LIMIT]
    try:
        row = _insert_or_lock(event, EventStatus.FAILED, error=error)
        if row is not None and row.status not in SETTLED:
            row.status = EventStatus.FAILED
            row.error = error
            row.attempts = (row.attempts or 0) + 1
            row.processed_at = None
            notices.tell_admins_if_failing(row)
        db.session.commit()
    except Exception:
        db.session.rollback()
        logger.exception("Could not record the failure of Stripe event %s", event.get("id"))


def _describe(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None
