"""What every blueprint's forms share: the bare button, and the check a button's POST passes.

What it promises:

- `ActionForm` is a button that changes something: it carries the CSRF token and nothing else.
- `submitted(form)` returns the form of a POST that validates and answers 400 otherwise, before
  the view changes anything, so a view states the check in one line and never repeats it.
"""

from __future__ import annotations

from typing import TypeVar

from flask import abort
from flask_wtf import FlaskForm

F = TypeVar("F", bound=FlaskForm)


class ActionForm(FlaskForm):
    """A button that changes something: it carries only the CSRF token."""


def submitted(form: F) -> F:
    """`form`, validated from this POST; a form that does not validate is refused with 400."""
    if not form.validate_on_submit():
        abort(400)
    return form
