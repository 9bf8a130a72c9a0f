"""Small builders for test data: each makes a valid row with sensible defaults, committed."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from portal.accounts import services as accounts
from portal.extensions import db
from portal.models import AvailabilitySlot, Role, StripeConnectedAccount, User

_counter = itertools.count(1)


def make_user(
    role: Role = Role.MENTEE,
    email: str | None = None,
    *,
    password: str = "correct horse battery",  # noqa: S107
    name: str | None = None,
    **profile: object,
) -> User:
    n = next(_counter)
    user = accounts.create_user(
        email or f"{role.value}{n}@example.com", password, name or f"{role.value.title()} {n}", role
    )
    if role is Role.COACH and user.coach_profile is not None:
        user.coach_profile.is_published = True
        for key, value in profile.items():
            setattr(user.coach_profile, key, value)
    db.session.commit()
    return user


def make_connected_account(coach: User, *, charges_enabled: bool = True) -> StripeConnectedAccount:
    account = StripeConnectedAccount(
        user=coach,
        stripe_account_id=f"acct_test{coach.id:06d}",
        country="US",
        charges_enabled=charges_enabled,
        payouts_enabled=charges_enabled,
        details_submitted=charges_enabled,
        requires_onboarding=not charges_enabled,
    )
    coach.stripe_connect_account_id = account.stripe_account_id
    db.session.add(account)
    db.session.commit()
    return account


def make_slot(coach: User, *, hours_from_now: int = 48, minutes: int = 60) -> AvailabilitySlot:
    starts_at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(
        hours=hours_from_now
    )
    slot = AvailabilitySlot(coach=coach, starts_at=starts_at, duration_minutes=minutes)
    db.session.add(slot)
    db.session.commit()
    return slot


def money(value: str) -> Decimal:
    return Decimal(value)
