"""Read the mail the portal wrote as .eml files, as a person's mail program would."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

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
