"""Secrets the portal must keep but must not hold readable in the database (a person's TOTP key).

`seal` encrypts with Fernet (AES-128-CBC with an HMAC, from the `cryptography` package) under the
newest of the keys in `TWO_FACTOR_KEYS`; `unseal` accepts any of them, so a key is rotated by
putting a new one first and re-saving. Without `TWO_FACTOR_KEYS` one key is derived from
`SECRET_KEY` (HKDF-SHA256), which suits development; production sets its own keys, kept apart
from the database and its backups, so a copy of the database alone reveals no second factor.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


class Unreadable(ValueError):
    """A sealed value none of the configured keys opens (a key was dropped too early)."""


def seal(text: str) -> str:
    return _keys(*_configured()).encrypt(text.encode()).decode()


def unseal(token: str) -> str:
    try:
        return _keys(*_configured()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise Unreadable("No key in TWO_FACTOR_KEYS opens this value.") from None


def _configured() -> tuple[str, str]:
    return current_app.config.get("TWO_FACTOR_KEYS") or "", current_app.config["SECRET_KEY"]


@lru_cache(maxsize=4)
def _keys(listed: str, secret_key: str) -> MultiFernet:
    keys = [key.strip() for key in listed.split(",") if key.strip()]
    if not keys:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal two-factor keys"
        ).derive(secret_key.encode())
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(key) for key in keys])
