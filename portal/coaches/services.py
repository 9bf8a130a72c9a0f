"""Coach profiles, the directory mentees browse, and the open times coaches offer."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from portal import pagination
from portal.bookings.hold import slots_soonest_first
from portal.errors import PortalError
from portal.extensions import db
from portal.models import (
    AvailabilitySlot,
    Booking,
    CoachProfile,
    CoachTopic,
    StripeConnectedAccount,
    Transaction,
    User,
    utcnow,
)
from portal.models.coaching import HOLDING_STATUSES, TOPICS

DIRECTORY_PAGE_SIZE = 24
OWN_SLOTS_PAGE_SIZE = 20

# How far ahead a coach may offer a time. A date typed years ahead is a slip; and one near the
# calendar's end (9999-12-31) has an end, or a UTC start, that Python cannot make, so its
# booking's calendar invitation and confirmation mail failed after the mentee had paid.
SLOT_HORIZON = timedelta(days=730)
TOO_FAR_AHEAD = "Offer a time within the next two years."


# The longest name search the directory takes; longer is refused, never cut silently.
SEARCH_MAX_LENGTH = 80


@dataclass(frozen=True)
class DirectoryFilter:
    """What a visitor narrowed the directory to: part of a name, a topic (one of `TOPICS`), a
    price range (list prices, in each coach's own currency)."""

    name: str = ""
    topic: str = ""
    min_price: Decimal | None = None
    max_price: Decimal | None = None

    def args(self) -> dict[str, str]:
        """The filter as the query string that asks for it (kept by the pager's links)."""
        found = {
            "q": self.name,
            "topic": self.topic,
            "min_price": self.min_price,
            "max_price": self.max_price,
        }
        return {k: str(v) for k, v in found.items() if v not in (None, "")}


def listed_coaches(
    f: DirectoryFilter = DirectoryFilter(),  # noqa: B008 - frozen, never changed
    *,
    after: str | None = None,
    before: str | None = None,
    size: int = DIRECTORY_PAGE_SIZE,
) -> pagination.Page:
    """One page of the coaches who chose to be listed, whose accounts are active and who can
    take bookings (Stripe enabled charges on their connected account), newest first (keyset on
    the profile's id), narrowed by `f`.

    This is the page's version read: each row is a tuple of the profile's `id`, `user_id` and
    `listing_changes` and the database's generation (`database_generation`), not a profile;
    what a card shows is read when it is rendered. Raises `pagination.BadCursor` for a bad
    page link.
    """
    values = _narrowing_values(f)
    return pagination.fetch_page(
        _listed(frozenset(values)),
        key=CoachProfile.id,
        row_id=CoachProfile.id,
        kind="number",
        after=after,
        before=before,
        size=size,
        params=values,
    )


def _narrowing_values(f: DirectoryFilter) -> dict[str, object]:
    """The values of the narrowings `f` sets, by the name of their bound parameter."""
    values: dict[str, object] = {}
    if f.name:
        values["name_pattern"] = "%" + escape_like(f.name) + "%"
    if f.topic:
        values["topic"] = f.topic
    if f.min_price is not None:
        values["min_price"] = f.min_price
    if f.max_price is not None:
        values["max_price"] = f.max_price
    return values


@functools.lru_cache(maxsize=16)
def _listed(narrowings: frozenset[str]) -> sa.Select:
    """The listed coaches' versions with the `narrowings` a filter sets, built once per process
    for each of the sixteen sets: a filter's values are bound parameters, so a visitor's search
    reuses its statement, the pager's page statements and SQLAlchemy's cache key (building and
    keying them per request was a third of a kept page's version read)."""
    return (
        select(
            CoachProfile.id,
            CoachProfile.user_id,
            CoachProfile.listing_changes,
            CoachProfile.database_generation,
        )
        .join(CoachProfile.user)
        .where(
            CoachProfile.is_published.is_(True),
            User.is_active.is_(True),
            _can_take_charges().is_(True),
            *(condition() for name, condition in _NARROWINGS.items() if name in narrowings),
        )
    )


def _can_take_charges() -> ColumnElement[bool]:
    """Whether Stripe lets the profile's coach take charges, asked profile by profile.

    Not a join: joined, PostgreSQL sees one id named three ways (profile, user, account) and
    guesses that one coach in twenty is listed, so it joins and sorts every coach to find a
    page (1.6 ms at 1,000 coaches) where walking the newest profiles finds it in 0.1 ms.
    """
    return (
        select(StripeConnectedAccount.charges_enabled)
        .where(StripeConnectedAccount.user_id == CoachProfile.user_id)
        .scalar_subquery()
    )


# Each narrowing's condition, on the bound parameter of the same name.
_NARROWINGS: dict[str, Callable[[], ColumnElement[bool]]] = {
    "name_pattern": lambda: User.name.ilike(sa.bindparam("name_pattern"), escape="\\"),
    "topic": lambda: exists().where(
        CoachTopic.coach_id == CoachProfile.user_id, CoachTopic.topic == sa.bindparam("topic")
    ),
    "min_price": lambda: CoachProfile.session_price >= sa.bindparam("min_price"),
    "max_price": lambda: CoachProfile.session_price <= sa.bindparam("max_price"),
}


def escape_like(text: str) -> str:
    """`text` matched literally by LIKE: its wildcards and the escape character escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def profiles_to_show(coach_ids: Iterable[int]) -> list[CoachProfile]:
    """The profiles (with their users) of the coaches whose cards are to be rendered."""
    query = (
        select(CoachProfile)
        .where(CoachProfile.user_id.in_(list(coach_ids)))
        .options(joinedload(CoachProfile.user), selectinload(CoachProfile.topics))
    )
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class SetupStep:
    """One step of a new coach's checklist, and whether it is done."""

    name: str
    done: bool


def setup_checklist(coach: User) -> list[SetupStep]:
    """What a coach still has to do before mentees can book: profile, price, times, payouts."""
    profile = coach.coach_profile
    has_times = (
        db.session.scalar(
            select(AvailabilitySlot.id)
            .where(AvailabilitySlot.coach_id == coach.id, AvailabilitySlot.starts_at > utcnow())
            .limit(1)
        )
        is not None
    )
    account = coach.stripe_connected_account
    return [
        SetupStep(
            "Write your headline and show your profile in the directory",
            bool(profile and profile.headline and profile.is_published),
        ),
        SetupStep("Set your price", bool(profile and profile.session_price > 0)),
        SetupStep("Offer open times", has_times),
        SetupStep("Set up payouts with Stripe", bool(account and account.charges_enabled)),
    ]


def coach_listing(user_id: int) -> sa.Row | None:
    """The coach page's version read: whether the coach's profile is published and their
    account active, its `listing_changes` and the database's generation, in one statement (a
    row with those names; None when the user has no profile)."""
    return db.session.execute(_coach_listing(), {"user_id": user_id}).one_or_none()


@functools.cache
def _coach_listing() -> sa.Select:
    """Built once per process, with its cache key: each request binds the coach's id."""
    return (
        select(
            CoachProfile.is_published,
            User.is_active,
            CoachProfile.listing_changes,
            CoachProfile.database_generation,
        )
        .join(CoachProfile.user)
        .where(CoachProfile.user_id == sa.bindparam("user_id"))
    )


def coach_profile_for(user_id: int) -> CoachProfile | None:
    """The coach's profile with the user and connected account, in one statement."""
    query = select(CoachProfile).where(CoachProfile.user_id == user_id)
    profile = db.session.scalar(
        query.options(
            joinedload(CoachProfile.user).joinedload(User.stripe_connected_account),
        )
    )
    if profile is not None:  # the user's side of the one-to-one, without reading it again
        set_committed_value(profile.user, "coach_profile", profile)
    return profile


class ProfileError(PortalError):
    """A profile change that cannot be made; `message` says why."""


def update_profile(
    profile: CoachProfile,
    *,
    headline: str,
    bio: str,
    session_price: Decimal,
    currency: str,
    session_minutes: int,
    is_published: bool,
    topics: Iterable[str] | None = None,
) -> CoachProfile:
    """Save the coach's profile; `topics` (slugs of `TOPICS`) replace the coach's topics.
    `ProfileError` for another currency once the coach has been booked in theirs."""
    if currency != profile.currency and _has_been_booked(profile.user_id):
        raise ProfileError(
            f"Your prices stay in {profile.currency}: you have been booked in it, and your "
            "balances, statements and payouts are kept in it."
        )
    if topics is not None:
        _set_topics(profile, set(topics))
    profile.headline = headline.strip()
    profile.bio = bio.strip()
    profile.session_price = session_price
    profile.currency = currency
    profile.session_minutes = session_minutes
    profile.is_published = is_published
    db.session.flush()
    return profile


def _has_been_booked(coach_id: int) -> bool:
    """Whether any booking or payment names the coach: money in their currency has moved."""
    booked = sa.select(Booking.id).where(Booking.coach_id == coach_id)
    paid = sa.select(Transaction.id).where(Transaction.coach_id == coach_id)
    return bool(db.session.scalar(sa.select(exists(booked) | exists(paid))))


def _set_topics(profile: CoachProfile, wanted: set[str]) -> None:
    unknown = wanted - TOPICS.keys()
    if unknown:
        raise ValueError(f"unknown topics: {sorted(unknown)}")
    for kept in [t for t in profile.topics if t.topic not in wanted]:
        profile.topics.remove(kept)
    have = {t.topic for t in profile.topics}
    profile.topics.extend(CoachTopic(topic=topic) for topic in sorted(wanted - have))


# --- open times ---------------------------------------------------------------------------


class SlotError(PortalError):
    """A slot change that cannot be made; `message` says why."""


def slots_of(
    coach_id: int,
    *,
    after: str | None = None,
    before: str | None = None,
    size: int = OWN_SLOTS_PAGE_SIZE,
) -> pagination.Page:
    """One page of the coach's future slots, booked or not, soonest first."""
    return slots_soonest_first(
        AvailabilitySlot.coach_id == coach_id,
        AvailabilitySlot.starts_at > utcnow(),
        after=after,
        before=before,
        size=size,
    )


def held_slot_ids(coach_id: int, slot_ids: Iterable[int]) -> set[int]:
    """Which of `slot_ids` a booking holds (pending payment, paid or done)."""
    query = select(Booking.slot_id).where(
        Booking.coach_id == coach_id,
        Booking.status.in_(HOLDING_STATUSES),
        Booking.slot_id.in_(list(slot_ids)),
    )
    return {slot_id for slot_id in db.session.scalars(query) if slot_id is not None}


def add_slot(coach: User, starts_at: datetime, duration_minutes: int) -> AvailabilitySlot:
    """Offer a new open time; flushed. `SlotError` for a past time or one already offered."""
    if starts_at.tzinfo is None:
        raise ValueError("starts_at must be timezone-aware")
    if starts_at <= utcnow():
        raise SlotError("That time has passed. Offer a time in the future.")
    if starts_at > utcnow() + SLOT_HORIZON:
        raise SlotError(TOO_FAR_AHEAD)
    slot = AvailabilitySlot(
        coach_id=coach.id, starts_at=starts_at.astimezone(UTC), duration_minutes=duration_minutes
    )
    try:
        with db.session.begin_nested():
            db.session.add(slot)
    except IntegrityError as exc:
        raise SlotError("You already offer that time.") from exc
    return slot


def remove_slot(coach: User, slot_id: int) -> None:
    """Withdraw an open time; flushed. A booked time stays (cancel the booking instead)."""
    slot = db.session.get(AvailabilitySlot, slot_id)
    if slot is None or slot.coach_id != coach.id:
        raise SlotError("That time is not one of yours.")
    if held_slot_ids(coach.id, [slot_id]):
        raise SlotError("That time is booked. Cancel the booking from your schedule instead.")
    db.session.delete(slot)
    db.session.flush()
