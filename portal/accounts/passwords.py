"""Which passwords the portal accepts, following NIST SP 800-63B (section 5.1.1.2).

What it promises:

- At least MIN_LENGTH characters and up to MAX_LENGTH (well above the 64 NIST asks to allow),
  any characters, spaces included; no rules about digits, capitals or symbols.
- A password made of the person's own email or name, or of the portal's name, is refused.
- A common or easily guessed one (a leaked-password list, a dictionary word with a digit, a
  keyboard walk, a repetition) is refused; `zxcvbn` estimates the guesses offline.
- Each refusal says why, in words a person can act on.
"""

from __future__ import annotations

import re

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 256
# zxcvbn's score: 3 is "safely unguessable" (about 10^8 guesses and more). Its work grows with
# the length, and a long passphrase is strong anyway, so only the first characters are scored.
MIN_SCORE = 3
SCORED_CHARACTERS = 64
SERVICE_WORDS = ("coaching portal", "coachingportal", "portal")
_NOT_LETTERS = re.compile(r"[\W_]+")


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why `password` is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters; a few words together work well."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if _built_on_context(_squeeze(password), _context_words(email, name)):
        return "Do not use your name, your email address or the portal's name in your password."
    result = zxcvbn(password[:SCORED_CHARACTERS], user_inputs=[email, name, *SERVICE_WORDS])
    if result["score"] >= MIN_SCORE:
        return None
    warning = result["feedback"]["warning"] or "This password is easy to guess."
    return f"{warning.rstrip('.')}. Choose something less common, such as a few unrelated words."


def _context_words(email: str, name: str) -> list[str]:
    local = email.partition("@")[0]
    words = [_squeeze(email), _squeeze(local), _squeeze(name), *map(_squeeze, SERVICE_WORDS)]
    return [word for word in words if len(word) >= 3]


def _built_on_context(squeezed: str, context: list[str]) -> bool:
    """The password holds a long context word, or one that makes up half of it or more.

    A short name ("Al", "Long") may appear in a good passphrase by chance; "patdoe2026" or the
    email address itself may not.
    """
    return any(
        word in squeezed and (len(word) >= 5 or 2 * len(word) >= len(squeezed)) for word in context
    )


def _squeeze(text: str) -> str:
    return _NOT_LETTERS.sub("", text.lower())
