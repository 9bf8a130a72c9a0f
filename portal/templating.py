"""Template filters and globals shared by every page."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask import Flask, current_app
from flask_login import current_user

from portal.models.enums import Role


def _format_datetime(value: datetime | None, fmt: str = "%a %d %b %Y, %H:%M UTC") -> str:
    return value.strftime(fmt) if value else ""


def _format_money(amount: Decimal | None, currency: str = "USD") -> str:
    from portal.money import format_money

    return "" if amount is None else format_money(amount, currency)


# Links each role sees in the header; a link appears once its blueprint is registered.
NAV_LINKS: dict[Role, list[tuple[str, str]]] = {
    Role.MENTEE: [
        ("coaches.my_sessions", "My sessions"),
        ("billing.cards", "Cards"),
        ("billing.membership", "Membership"),
        ("billing.invoices", "Invoices"),
    ],
    Role.COACH: [
        ("coaches.my_profile", "My profile"),
        ("coaches.my_schedule", "Schedule"),
        ("payouts.dashboard", "Earnings"),
    ],
    Role.ADMIN: [
        ("admin.transactions", "Transactions"),
        ("admin.events", "Events"),
        ("admin.users", "Users"),
    ],
}


def _nav_links() -> list[tuple[str, str]]:
    if not current_user.is_authenticated:
        return []
    endpoints = current_app.view_functions
    return [(ep, label) for ep, label in NAV_LINKS[current_user.role] if ep in endpoints]


def init_templating(app: Flask) -> None:
    app.jinja_env.globals["nav_links"] = _nav_links
    app.jinja_env.filters["datetime"] = _format_datetime
    app.jinja_env.filters["money"] = _format_money
    app.jinja_env.globals["Role"] = Role


def compile_templates(app: Flask) -> int:
    """Compile every template now instead of on the first request that renders it.

    gunicorn calls this in its master before forking: each worker, and each worker recycled
    later, then starts with the compiled templates instead of compiling each one again.
    """
    env = app.jinja_env
    names = env.list_templates()
    for name in names:
        env.get_template(name)
    return len(names)
