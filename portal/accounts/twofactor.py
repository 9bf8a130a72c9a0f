"""The second factor: TOTP codes from an authenticator app, and ten single-use recovery codes.

What it promises:
- An enrolment counts only once the person has typed a valid code from the new secret; a wrong
  code changes nothing.
- A TOTP code is accepted once: the user's row remembers the last time step that was used, and
  a code is accepted only for a later step, by one conditional UPDATE, so two requests racing
  with the same code cannot both pass.
- Recovery codes are shown once, stored only as argon2 hashes (as passwords are), and each is
  marked used by one conditional UPDATE, so it works once.
- The secret is kept in the database as it is (not encrypted): the portal has no encryption
  library, and a key derived from SECRET_KEY would sit beside the database in every process
  that reads it. What protects it is that no page shows it after enrolment, no log line names
  it, and only `check_code` reads it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
import sqlalchemy as sa
from markupsafe import Markup

from portal.accounts.services import hash_matches, hash_password, password_matches
from portal.errors import PortalError
from portal.extensions import db
from portal.models import RecoveryCode, User, utcnow
from portal.outbox import queue_mail

ISSUER = "Coaching Portal"
STEP_SECONDS = 30
# A phone whose clock is a little off still signs in: the step before and after are accepted.
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


class TwoFactorError(PortalError):
    """A second-factor request that cannot be done; the message says what to do."""


class WrongCode(TwoFactorError):
    def __init__(self) -> None:
        super().__init__(
            "That code is not right. Type the 6 digits your authenticator app shows now "
            "(each code works once), or one of your recovery codes."
        )


def now() -> datetime:
    """The clock codes and confirmations are checked against (tests move it)."""
    return utcnow()


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_code_svg(uri: str) -> Markup:
    """The enrolment QR code as inline SVG, drawn here: no request leaves the portal."""
    qr = segno.make(uri, error="m")
    svg = qr.svg_inline(scale=4, dark="#000", light="#fff", title="QR code for your app")
    return Markup(svg)  # noqa: S704 - segno's own markup from a URI we built


def format_secret(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@dataclass(frozen=True)
class CheckedCode:
    """A code that was accepted; `recovery_codes_left` is set when it was a recovery code."""

    recovery_codes_left: int | None = None


def enrol(user: User, secret: str, code: str) -> list[str]:
    """Turn on TOTP for `user` with `secret` if `code` comes from it. Returns the recovery codes
    (shown once). Raises WrongCode, leaving everything as it was."""
    if user.two_factor_enabled:
        raise TwoFactorError("Two-factor sign-in is on already.")
    step = _matching_step(secret, code)
    if step is None:
        raise WrongCode()
    user.totp_secret = secret
    user.totp_last_step = step
    _tell_owner(user, "on")
    return _replace_recovery_codes(user)


def regenerate_recovery_codes(user: User) -> list[str]:
    """Ten new recovery codes for `user`; the old ones stop working."""
    if not user.two_factor_enabled:
        raise TwoFactorError("Turn on two-factor sign-in first.")
    _tell_owner(user, "new_codes")
    return _replace_recovery_codes(user)


def disable(user: User, password: str, code: str) -> None:
    """Turn TOTP off after the password and a code. Admins must keep it."""
    if user.two_factor_required:
        raise TwoFactorError("Admins must keep two-factor sign-in on.")
    if not password_matches(user, password) or not check_code(user, code):
        raise TwoFactorError("The password or the code is not right; two-factor sign-in is on.")
    user.totp_secret = None
    user.totp_last_step = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    _tell_owner(user, "off")


# What the owner is told, in their mailbox, when their second factor changes: a change they did
# not make is how they learn someone else has their password.
_CHANGES = {
    "on": "Two-factor sign-in is on for your account",
    "off": "Two-factor sign-in was turned off for your account",
    "new_codes": "New recovery codes were made for your account",
}


def _tell_owner(user: User, change: str) -> None:
    queue_mail(f"two_factor.{change}", user, _CHANGES[change], "two_factor_changed", change=change)


def check_code(user: User, code: str) -> CheckedCode | None:
    """Accept a TOTP code (once) or an unused recovery code (once) of `user`; None if neither."""
    if not user.two_factor_enabled or not code:
        return None
    cleaned = "".join(code.split()).replace("-", "").lower()
    if cleaned.isdigit():
        return CheckedCode() if _use_totp(user, cleaned) else None
    return _use_recovery_code(user, cleaned)


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )


def _matching_step(secret: str, code: str) -> int | None:
    """The time step (within the allowed drift) whose code is `code`, or None."""
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = int(now().timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _use_totp(user: User, code: str) -> bool:
    step = _matching_step(user.totp_secret or "", code)
    if step is None:
        return False
    # Only a later step than the last accepted one: a code, once used, is refused (replay).
    used = db.session.execute(
        sa.update(User)
        .where(
            User.id == user.id,
            sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        return False
    user.totp_last_step = step
    return True


def _use_recovery_code(user: User, code: str) -> CheckedCode | None:
    unused = db.session.scalars(
        sa.select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
    ).all()
    for row in unused:
        if hash_matches(row.code_hash, code):
            marked = db.session.execute(
                sa.update(RecoveryCode)
                .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=now())
                .execution_options(synchronize_session=False)
            )
            if marked.rowcount != 1:
                return None  # used a moment ago by another request
            return CheckedCode(recovery_codes_left=len(unused) - 1)
    return None


def _replace_recovery_codes(user: User) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=hash_password(code.replace("-", "")))
        for code in codes
    )
    db.session.flush()
    return codes


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))  # about 49 bits
    return f"{raw[:5]}-{raw[5:]}"
