"""Read the mail the portal wrote as .eml files, as a person's mail program would."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask


def messages(app: Flask) -> list[EmailMessage]:
    """Every message written so far, oldest first."""
    folder = Path(app.config["MAIL_FILE_PATH"])
    files = sorted(folder.glob("*.eml")) if folder.is_dir() else []
    return [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]  # type: ignore[misc]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "no plain-text part"
    return part.get_content()


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "no HTML part"
    return part.get_content()


def links_in(message: EmailMessage) -> list[str]:
    return re.findall(r"https?://\S+", text_of(message))


# A card or bank account number (12 to 19 digits, spaces or dashes allowed between them), not
# part of a longer word such as a Stripe id; and the prefixes of Stripe's secrets.
_NUMBER = re.compile(r"(?<!\w)(?:\d[ -]?){11,18}\d(?!\w)")
_SECRETS = ("sk_test_", "sk_live_", "rk_live_", "whsec_")


def assert_nothing_secret(message: EmailMessage) -> None:
    """Neither part of `message` holds a card or bank account number or a Stripe secret."""
    for part in (text_of(message), html_of(message)):
        assert not _NUMBER.search(part), _NUMBER.search(part)
        assert not any(secret in part for secret in _SECRETS), part


def with_subject(app: Flask, start: str) -> list[EmailMessage]:
    """The messages written so far whose subject starts with `start`."""
    return [m for m in messages(app) if str(m["Subject"]).startswith(start)]


def links_to(message: EmailMessage, path: str) -> bool:
    """Whether the plain-text part links, with an absolute URL, to the portal's `path`."""
    return any(urlsplit(url).path == path for url in links_in(message))
