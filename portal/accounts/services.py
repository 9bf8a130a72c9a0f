"""Accounts: creating users, checking passwords, confirming addresses, resetting passwords,
loading the signed-in user.

Passwords are hashed with argon2id. An unknown email costs the same work as a wrong password, and
both get the same answer, so the sign-in form does not reveal who has an account. Sign-up and
"Forgot password?" answer the same whether or not an address has an account; what differs goes
to the address's own mailbox.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer, joinedload

from portal.accounts.tokens import RESET_PASSWORD, VERIFY_EMAIL, make_token, user_for_token
from portal.database import read_before_transaction
from portal.errors import PortalError
from portal.extensions import db, login_manager
from portal.models import CoachProfile, Role, StripeConnectedAccount, User, utcnow
from portal.outbox import link, queue_mail
from portal.security import requested_audience
from portal.time_zones import DEFAULT_TIME_ZONE, is_time_zone

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class EmailTaken(Exception):
    """An account with this email exists already."""


class LinkNotValid(PortalError):
    def __init__(self) -> None:
        super().__init__("This link has expired or has been used already. Ask for a new one below.")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def hash_matches(hashed: str, secret: str) -> bool:
    """Whether `secret` is what `hashed` (from `hash_password`) was made from."""
    try:
        return _hasher.verify(hashed, secret)
    except (VerificationError, InvalidHashError):
        return False


def password_matches(user: User, password: str) -> bool:
    return hash_matches(user.password_hash, password)


def new_session_token() -> str:
    return secrets.token_hex(16)


def create_user(
    email: str,
    password: str,
    name: str,
    role: Role,
    *,
    verified: bool = False,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> User:
    """Create a user (and, for a coach, an unpublished coach profile). Raises EmailTaken.

    `verified` is for accounts made by an operator (admins, the demo), whose address is known.
    `time_zone` must be a name `portal.time_zones` knows (the forms check it).
    """
    if not is_time_zone(time_zone):
        raise ValueError(f"Unknown time zone {time_zone!r}")
    user = User(
        email=normalise_email(email),
        password_hash=hash_password(password),
        name=name.strip(),
        role=role,
        session_token=new_session_token(),
        email_verified_at=utcnow() if verified else None,
        time_zone=time_zone,
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
    user = _active_user_with(email)
    if user is not None:
        queue_mail(
            "account.signup_attempt",
            user,
            "Someone tried to open an account with your address",
            "account_exists",
        )


def _active_user_with(email: str) -> User | None:
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    return user if user is not None and user.is_active else None


def send_verification(user: User) -> None:
    """Mail `user` a link that confirms their address."""
    queue_mail(
        "account.verify_email",
        user,
        "Confirm your email address",
        "verify_email",
        url=link("accounts.verify_email", token=make_token(VERIFY_EMAIL, user)),
    )


def verify_email(token: str) -> User:
    """Confirm the address a link was sent to. Raises LinkNotValid."""
    user = user_for_token(VERIFY_EMAIL, token)
    if user is None:
        raise LinkNotValid()
    user.email_verified_at = utcnow()
    return user


def send_password_reset(email: str) -> None:
    """Mail the owner of `email` a one-hour reset link; an unknown address gets nothing."""
    user = _active_user_with(email)
    if user is not None:
        queue_mail(
            "account.password_reset",
            user,
            "Reset your password",
            "reset_password",
            url=link("accounts.reset_password", token=make_token(RESET_PASSWORD, user)),
        )


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a reset link, ending every session. Raises LinkNotValid."""
    user = user_for_token(RESET_PASSWORD, token)
    if user is None:
        raise LinkNotValid()
    user.password_hash = hash_password(new_password)
    user.email_verified_at = user.email_verified_at or utcnow()  # the link reached them
    end_sessions(user)
    return user


def password_reset_user(token: str) -> User | None:
    """Whom a reset link is for, if it can still be used (the form checks the password)."""
    return user_for_token(RESET_PASSWORD, token)


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
    if not password_matches(user, current):
        return False
    user.password_hash = hash_password(new)
    end_sessions(user)
    return True


def update_profile(user: User, *, name: str, optional_mail: bool, time_zone: str) -> User:
    """Save what a person may change about themselves (the form has checked each value)."""
    if not is_time_zone(time_zone):
        raise ValueError(f"Unknown time zone {time_zone!r}")
    user.name = name.strip()
    user.optional_mail = optional_mail
    user.time_zone = time_zone
    return user


def end_sessions(user: User) -> None:
    """End every login session of `user`: the token each session carries no longer matches."""
    user.session_token = new_session_token()


# The signed-in user is read on every signed-in request, each statement built once so that
# SQLAlchemy keeps its cache key. On the pages only coaches open (the dashboard and the rest),
# the coach's profile and connected account come in the same statement, since those pages read
# them. Every other page reads the user's own columns alone: there the two joins found nothing
# (an admin, a mentee) or nothing the page reads (a coach's account page), yet their 36 columns
# were a third of the statement's cost; a page that does read them loads them when it does.
# Of the two rows, the columns no coach page reads stay out (each column read costs psycopg
# and the ORM on every request): the rows' timestamps, and the account's business details and
# verification status, which only the account's sync from Stripe writes.
_SIGNED_IN_USER = select(User).where(User.id == bindparam("user_id"))
_SIGNED_IN_COACH = _SIGNED_IN_USER.options(
    joinedload(User.coach_profile).defer(CoachProfile.created_at).defer(CoachProfile.updated_at),
    joinedload(User.stripe_connected_account).options(
        defer(StripeConnectedAccount.business_type),
        defer(StripeConnectedAccount.business_profile),
        defer(StripeConnectedAccount.verification_status),
        defer(StripeConnectedAccount.created_at),
        defer(StripeConnectedAccount.updated_at),
    ),
)


@login_manager.user_loader
def load_user(user_key: str) -> User | None:
    user_id, _, token = user_key.partition(":")
    if not user_id.isdigit() or not token:
        return None
    coach_page = Role.COACH.value in requested_audience()
    # A page that reads nothing else (a coach's unchanged dashboard) opens no transaction.
    with read_before_transaction():
        user = db.session.scalar(
            _SIGNED_IN_COACH if coach_page else _SIGNED_IN_USER, {"user_id": int(user_id)}
        )
    if user is None or not user.is_active or not secrets.compare_digest(user.session_token, token):
        return None
    return user
