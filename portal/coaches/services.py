"""Coach profiles and the directory mentees browse."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import CoachProfile, User


def published_coaches() -> list[CoachProfile]:
    """Coaches who chose to be listed and whose accounts are active, newest first."""
    query = (
        select(CoachProfile)
        .join(CoachProfile.user)
        .where(CoachProfile.is_published.is_(True), User.is_active.is_(True))
        .options(joinedload(CoachProfile.user))
        .order_by(CoachProfile.id.desc())
    )
    return list(db.session.scalars(query))


def coach_profile_for(user_id: int) -> CoachProfile | None:
    query = select(CoachProfile).where(CoachProfile.user_id == user_id)
    return db.session.scalar(query.options(joinedload(CoachProfile.user)))


def update_profile(
    profile: CoachProfile,
    *,
    headline: str,
    bio: str,
    session_price: Decimal,
    currency: str,
    session_minutes: int,
    is_published: bool,
) -> CoachProfile:
    profile.headline = headline.strip()
    profile.bio = bio.strip()
    profile.session_price = session_price
    profile.currency = currency
    profile.session_minutes = session_minutes
    profile.is_published = is_published
    db.session.flush()
    return profile
