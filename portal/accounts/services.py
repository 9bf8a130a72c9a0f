"""Accounts: creating users, checking passwords, loading the signed-in user.

Passwords are hashed with argon2id. An unknown email costs the same work as a wrong password, and
both get the same answer, so the sign-in form does not reveal who has an account.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal.database import read_before_transaction
from portal.extensions import db, login_manager
from portal.models import CoachProfile, Role, User
from portal.outbox import queue_mail

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class EmailTaken(Exception):
    """An account with this email exists already."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def new_session_token() -> str:
    return secrets.token_hex(16)


def create_user(email: str, password: str, name: str, role: Role) -> User:
    """Create a user (and, for a coach, an unpublished coach profile). Raises EmailTaken."""
    user = User(
        email=normalise_email(email),
        password_hash=hash_password(password),
        name=name.strip(),
        role=role,
        session_token=new_session_token(),
    )
    if role is Role.COACH:
        user.coach_profile = CoachProfile()
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()  # the sign-up is the whole unit of work
        raise EmailTaken(f"An account with {user.email} exists already.") from exc
    return user


def tell_owner_of_signup_attempt(email: str) -> None:
    """Mail the owner of `email` that someone tried to sign up with it (the page says nothing)."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is not None and user.is_active:
        queue_mail(
            "account.signup_attempt",
            user,
            "Someone tried to open an account with your address",
            "account_exists",
        )


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None (same cost either way)."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    candidate_hash = user.password_hash if user else _DUMMY_HASH
    try:
        _hasher.verify(candidate_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def change_password(user: User, current: str, new: str) -> bool:
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        return False
    user.password_hash = hash_password(new)
    end_sessions(user)
    return True


def end_sessions(user: User) -> None:
    """End every login session of `user`: the token each session carries no longer matches."""
    user.session_token = new_session_token()


_WITH_COACH_ROWS = (joinedload(User.coach_profile), joinedload(User.stripe_connected_account))


@login_manager.user_loader
def load_user(user_key: str) -> User | None:
    user_id, _, token = user_key.partition(":")
    if not user_id.isdigit() or not token:
        return None
    # A coach's profile and connected account come in the same query: most coach pages read
    # them, and for everyone else the two joins find nothing. A page that reads nothing else
    # (a coach's unchanged dashboard) then opens no transaction at all.
    with read_before_transaction():
        user = db.session.get(User, int(user_id), options=_WITH_COACH_ROWS)
    if user is None or not user.is_active or not secrets.compare_digest(user.session_token, token):
        return None
    return user
