"""A mail backend that writes each message as an `.eml` file (development and tests).

Each message gets a file of its own under `MAIL_FILE_PATH` (`instance/mail/` by default), which
any mail program opens; a test reads the links out of it as a person would.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask_mailman.backends.base import BaseEmailBackend


class EmailBackend(BaseEmailBackend):
    def __init__(self, *, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder = Path(file_path or self.mailman.file_path).resolve()

    def send_messages(self, email_messages: list[Any]) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            name = f"{datetime.now(UTC):%Y%m%d-%H%M%S-%f}-{secrets.token_hex(4)}.eml"
            (self.folder / name).write_bytes(message.message().as_bytes())
        return len(email_messages)
