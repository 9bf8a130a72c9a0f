"""Each coach's listing version: raised with every change to what the directory and the
coach's page show of the coach.

What this module promises:

- Every flush that adds, removes or changes what a listing shows raises the coach's
  `coach_profiles.listing_changes` by one, in the same flush and so the same transaction, with
  an `UPDATE` that holds the coach's row lock until the commit. What a listing shows: the
  profile (headline, bio, price, currency, length, fee, listed or not, topics), the coach's name,
  time zone (the coach page shows each open time on the coach's clock too) and whether the
  account is active, whether Stripe lets the coach take charges, the open times,
  and which of them a booking holds.
- It watches the ORM's own changes, so no writer can forget it: a service that moves one of
  these columns with a bulk `UPDATE` must raise the counter itself (none does today).
- A payment confirming a held booking changes nothing a listing shows and raises nothing, so
  the webhook path takes no extra lock.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy.session import Session as PortalSession
from sqlalchemy import inspect

from portal.models import (
    AvailabilitySlot,
    Booking,
    CoachProfile,
    CoachTopic,
    Role,
    StripeConnectedAccount,
    User,
)
from portal.models.coaching import HOLDING_STATUSES

# The columns of each watched model whose change a listing shows.
_PROFILE = (
    "headline",
    "bio",
    "session_price",
    "currency",
    "session_minutes",
    "is_published",
    "platform_fee_percentage",
    "topics",
)
_USER = ("name", "time_zone", "is_active")
_ACCOUNT = ("charges_enabled",)
_SLOT = ("starts_at", "duration_minutes", "coach_id")
_CHANGED = "portal.listings_changed"


def init_app(app: Flask) -> None:
    if not sa.event.contains(PortalSession, "before_flush", _note_changes):
        sa.event.listen(PortalSession, "before_flush", _note_changes)
        sa.event.listen(PortalSession, "after_flush", _raise_versions)


def bump_listings(session: Any, coach_ids: set[int]) -> None:
    """Raise the listing version of each coach in `coach_ids` (in the caller's transaction)."""
    if coach_ids:
        session.connection().execute(
            sa.update(CoachProfile.__table__)
            .where(CoachProfile.__table__.c.user_id.in_(sorted(coach_ids)))
            .values(listing_changes=CoachProfile.__table__.c.listing_changes + 1)
        )


def _note_changes(session: Any, _context: object, _instances: object) -> None:
    changed: set[int] = session.info.setdefault(_CHANGED, set())
    for obj in session.new:
        changed.update(_coaches_of(obj, created=True))
    for obj in session.deleted:
        changed.update(_coaches_of(obj, created=True))
    for obj in session.dirty:
        changed.update(_coaches_of(obj, created=False))


def _raise_versions(session: Any, _context: object) -> None:
    changed: set[int] = session.info.pop(_CHANGED, set())
    bump_listings(session, changed)


def _coaches_of(obj: object, *, created: bool) -> set[int]:
    """The coaches whose listing `obj`'s pending change alters (added or removed: `created`)."""
    if isinstance(obj, AvailabilitySlot) and (created or _moved(obj, _SLOT)):
        return {c for c in (obj.coach_id, *_old(obj, "coach_id")) if c is not None}
    if isinstance(obj, Booking) and (created or _moved(obj, ("slot_id",)) or _hold_changed(obj)):
        return {obj.coach_id}
    if isinstance(obj, CoachTopic) and obj.coach_id is not None:  # a new one: its profile
        return {obj.coach_id}
    if isinstance(obj, CoachProfile) and not created and _moved(obj, _PROFILE):
        return {obj.user_id}
    if isinstance(obj, StripeConnectedAccount) and (created or _moved(obj, _ACCOUNT)):
        return {obj.user_id}
    if isinstance(obj, User) and not created and obj.role is Role.COACH and _moved(obj, _USER):
        return {obj.id}
    return set()


def _moved(obj: object, columns: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in columns)


def _old(obj: object, column: str) -> tuple[Any, ...]:
    return tuple(inspect(obj).attrs[column].history.deleted or ())


def _hold_changed(booking: Booking) -> bool:
    """Whether the booking started or stopped holding its slot."""
    history = inspect(booking).attrs["status"].history
    if not history.has_changes():
        return False
    before = [_holds(s) for s in history.deleted or ()]
    after = [_holds(s) for s in history.added or ()]
    return before != after


def _holds(status: object) -> bool:
    return getattr(status, "value", status) in HOLDING_STATUSES
