"""The signed session cookie, as Flask makes it, with its signing set up once per process.

Flask's cookie interface built a new serializer for every request (checking its JSON serializer
by dumping a sample), and itsdangerous derived the signing key from the secret again for every
cookie it read. Both depend only on the secret keys, so both are kept: the cookie, its
signature and its checks are Flask's own, byte for byte, and another `SECRET_KEY` or
`SECRET_KEY_FALLBACKS` gets its own serializer and keys.

A request that brings no cookie at all (a webhook, a health check, a first visit) starts an
empty session without every header searched for one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import Signer, TimestampSigner, URLSafeTimedSerializer


@lru_cache(maxsize=32)
def _derived_key(
    secret_key: bytes, salt: bytes, key_derivation: str, digest_method: Callable[..., Any]
) -> bytes:
    signer = Signer(
        secret_key, salt=salt, key_derivation=key_derivation, digest_method=digest_method
    )
    return signer.derive_key()


class KeptKeySigner(TimestampSigner):
    """itsdangerous's timestamp signer, deriving each secret's signing key once per process."""

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        if secret_key is None:
            secret_key = self.secret_keys[-1]
        elif isinstance(secret_key, str):
            secret_key = secret_key.encode()
        return _derived_key(secret_key, self.salt, self.key_derivation, self.digest_method)


class SessionCookie(SecureCookieSessionInterface):
    """Flask's signed cookie session, its serializer kept while the secret keys stay the same."""

    def __init__(self) -> None:
        self._kept: tuple[tuple[str | bytes, ...], URLSafeTimedSerializer] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        # itsdangerous signs with the last key and accepts the others (Flask's order).
        keys = (*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key)
        kept = self._kept
        if kept is None or kept[0] != keys:
            serializer = URLSafeTimedSerializer(
                list(keys),
                salt=self.salt,
                serializer=self.serializer,
                signer=KeptKeySigner,
                signer_kwargs={
                    "key_derivation": self.key_derivation,
                    "digest_method": self.digest_method,
                },
            )
            kept = self._kept = (keys, serializer)
        return kept[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # Flask's own parses every header into the request's cookies to find none here: the
        # same empty session, for every webhook event (ingest's budget, benchmarks/README.md).
        if "HTTP_COOKIE" not in request.environ and app.secret_key:
            return self.session_class()
        return super().open_session(app, request)


def init_session_cookie(app: Flask) -> None:
    app.session_interface = SessionCookie()
