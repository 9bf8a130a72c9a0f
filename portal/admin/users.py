"""People, for admins: list and search, deactivate and reactivate, each change audited.

Deactivating rotates the user's session token, so every login session they hold ends at its
next request; an admin cannot deactivate their own account (and so lock everyone out).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from portal import pagination as keyset
from portal.accounts.services import end_sessions
from portal.admin import audit
from portal.admin.transactions import escape_like
from portal.errors import PortalError
from portal.extensions import db
from portal.models import Role, User


class UserActionError(PortalError):
    """An admin's action on an account that cannot be taken; `message` says why."""


def user_page(
    *,
    q: str = "",
    role: Role | None = None,
    after: str | None = None,
    before: str | None = None,
    size: int = 50,
) -> keyset.Page:
    query = sa.select(User).options(joinedload(User.coach_profile))
    text = q.strip().lower()
    if text:
        pattern = f"%{escape_like(text)}%"
        query = query.where(
            sa.or_(
                User.email.like(pattern, escape="\\"),
                sa.func.lower(User.name).like(pattern, escape="\\"),
            )
        )
    if role is not None:
        query = query.where(User.role == role)
    return keyset.fetch_page(
        query,
        key=User.id,
        row_id=User.id,
        kind="number",
        after=after,
        before=before,
        size=size,
    )


def set_active(user_id: int, active: bool, *, admin: User) -> User:
    """Deactivate (ending every session) or reactivate a user, with an audit entry; flushed."""
    user = db.session.get(User, user_id)
    if user is None:
        raise LookupError(user_id)
    if not active and user.id == admin.id:
        raise UserActionError("You cannot deactivate your own account; ask another admin.")
    if user.is_active == active:
        return user
    user.is_active = active
    if not active:
        end_sessions(user)
    audit.record(
        admin.id,
        "user.reactivated" if active else "user.deactivated",
        "user",
        user.id,
        before={"is_active": not active},
        after={"is_active": active},
    )
    return user
