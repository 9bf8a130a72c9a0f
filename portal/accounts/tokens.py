"""Signed links mailed to a person: confirm an address, reset a forgotten password.

A link carries the user's id and a fingerprint of what it will change, signed with the
`SECRET_KEY` (itsdangerous) and a salt per purpose, so a link for one purpose never works for
another. Each is single-use because using it changes what the fingerprint covers: a confirmed
address needs no confirming again, and a reset changes the password hash the reset link was
made from. A reset link lasts `RESET_MAX_AGE`; a confirmation link `VERIFY_MAX_AGE`.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from portal.extensions import db
from portal.models import User

VERIFY_EMAIL = "verify-email"
RESET_PASSWORD = "reset-password"  # noqa: S105 - a purpose, not a password
RESET_MAX_AGE = timedelta(hours=1)
VERIFY_MAX_AGE = timedelta(days=7)
_MAX_AGE = {VERIFY_EMAIL: VERIFY_MAX_AGE, RESET_PASSWORD: RESET_MAX_AGE}


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"portal.{purpose}")


def _fingerprint(purpose: str, user: User) -> str:
    covered = user.email if purpose == VERIFY_EMAIL else user.password_hash
    return hashlib.sha256(covered.encode()).hexdigest()[:20]


def make_token(purpose: str, user: User) -> str:
    return _serializer(purpose).dumps({"u": user.id, "f": _fingerprint(purpose, user)})


def user_for_token(purpose: str, token: str) -> User | None:
    """The active user a link is for, if it is genuine, unexpired and unused; else None."""
    max_age = int(_MAX_AGE[purpose].total_seconds())
    try:
        data = _serializer(purpose).loads(token, max_age=max_age)
    except BadSignature:  # its subclass SignatureExpired too
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user = db.session.get(User, data["u"])
    if user is None or not user.is_active or data.get("f") != _fingerprint(purpose, user):
        return None
    if purpose == VERIFY_EMAIL and user.email_verified:
        return None
    return user
