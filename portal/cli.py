"""`flask` commands: make an admin, fill a demo database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import click
import pyotp
from flask import Flask
from sqlalchemy import select

from portal.accounts import services as accounts
from portal.accounts.passwords import password_problem
from portal.extensions import db
from portal.models import AvailabilitySlot, Role, User
from portal.time_zones import wall_time_to_utc

DEMO_ADMIN = "admin@portal.example"
DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - printed for the demo on purpose
# Admins sign in with a second factor. The demo admin has one already, with this published key,
# so someone trying the demo signs in at once: add the key to an authenticator app, or let
# `flask demo-code` print the code. A real admin (`create-admin`) sets up their own at first
# sign-in.
DEMO_TOTP_SECRET = "DEMOADMINSECRETFORTHEPORTAL23456"  # noqa: S105 - printed on purpose

DEMO_COACHES = [
    (
        "Ada Lovelace",
        "ada@coach.example",
        "Engineering leadership for first-time managers",
        "Twenty years of leading teams. I help new managers run one-on-ones, give feedback and "
        "plan careers.",
        Decimal("120.00"),
        "USD",
        "Europe/London",
    ),
    (
        "Grace Hopper",
        "grace@coach.example",
        "Debugging your career in software",
        "From compilers to careers: practical sessions on growth, interviews and technical "
        "writing.",
        Decimal("95.00"),
        "USD",
        "America/New_York",
    ),
    (
        "Kenji Sato",
        "kenji@coach.example",
        "Product strategy and roadmaps",
        "Former head of product. Bring a roadmap, leave with a plan you can defend.",
        Decimal("150.00"),
        "EUR",
        "Europe/Berlin",
    ),
]
DEMO_MENTEES = [("Sam Mentee", "sam@mentee.example"), ("Riley Learner", "riley@mentee.example")]


def register_commands(app: Flask) -> None:
    from portal.ledger import ledger_cli
    from portal.operations import register_operations
    from portal.tasks import jobs_cli
    from portal.webhooks.cli import stripe_cli

    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)
    app.cli.add_command(demo_logins)
    app.cli.add_command(demo_code)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(stripe_cli)
    app.cli.add_command(jobs_cli)
    register_operations(app)


@click.command("create-admin")
@click.argument("email")
@click.option("--name", default="Administrator", show_default=True)
@click.option(
    "--password",
    envvar="ADMIN_PASSWORD",
    help="Defaults to $ADMIN_PASSWORD, else a prompt; use the prompt on shared machines.",
)
def create_admin(email: str, name: str, password: str | None) -> None:
    """Create an admin account (or promote an existing user) with EMAIL."""
    existing = db.session.scalar(select(User).where(User.email == accounts.normalise_email(email)))
    if existing is not None:
        existing.role = Role.ADMIN
        db.session.commit()
        click.echo(f"{existing.email} is now an admin.")
        return
    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password, email=email, name=name)
    if problem:
        raise click.BadParameter(problem, param_hint="password")
    user = accounts.create_user(email, password, name, Role.ADMIN, verified=True)
    db.session.commit()
    click.echo(f"Admin {user.email} created.")


@click.command("seed-demo")
def seed_demo() -> None:
    """Fill an empty database with demo coaches, open slots, mentees and an admin."""
    if db.session.scalar(select(User.id).limit(1)) is not None:
        click.echo("The database has users already; demo data not added.")
        return
    admin = accounts.create_user(
        DEMO_ADMIN, DEMO_PASSWORD, "Portal Admin", Role.ADMIN, verified=True
    )
    admin.totp_secret = DEMO_TOTP_SECRET
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    for name, email, headline, bio, price, currency, zone in DEMO_COACHES:
        coach = accounts.create_user(
            email, DEMO_PASSWORD, name, Role.COACH, verified=True, time_zone=zone
        )
        profile = coach.coach_profile
        profile.headline, profile.bio = headline, bio
        profile.session_price, profile.currency = price, currency
        profile.is_published = True
        # Open at 09:00 and 14:00 on the coach's own clock, every other day.
        for day in range(0, 10, 2):
            for hour in (9, 14):
                wall = datetime.combine(tomorrow + timedelta(days=day), time(hour))
                starts_at = wall_time_to_utc(wall, zone)
                db.session.add(AvailabilitySlot(coach=coach, starts_at=starts_at))
    for name, email in DEMO_MENTEES:
        accounts.create_user(email, DEMO_PASSWORD, name, Role.MENTEE, verified=True)
    db.session.commit()
    click.echo("Demo data added.")
    _echo_demo_logins()


@click.command("demo-logins")
def demo_logins() -> None:
    """Print the demo logins in a box (once the portal is up), if the demo data is there."""
    if db.session.scalar(select(User.id).where(User.email == DEMO_ADMIN)) is None:
        click.echo("No demo data here: run `flask seed-demo` on an empty database.")
        return
    lines = _demo_login_lines()
    width = max(len(line) for line in lines)
    click.echo("+" + "-" * (width + 2) + "+")
    for line in lines:
        click.echo(f"| {line.ljust(width)} |")
    click.echo("+" + "-" * (width + 2) + "+")


@click.command("demo-code")
def demo_code() -> None:
    """Print the demo admin's two-factor code now (from the demo's published key)."""
    click.echo(pyotp.TOTP(DEMO_TOTP_SECRET).now())


def _echo_demo_logins() -> None:
    for line in _demo_login_lines()[1:]:
        click.echo(line)


def _demo_login_lines() -> list[str]:
    return [
        "The portal is up at the address above. Demo logins:",
        f"Sign in with any of these (password: {DEMO_PASSWORD}):",
        f"  admin   {DEMO_ADMIN}",
        "          then a code: .venv/bin/flask --app wsgi demo-code prints it,",
        f"          or add the key {DEMO_TOTP_SECRET} to an authenticator app",
        *(f"  coach   {email}" for _, email, *_ in DEMO_COACHES),
        *(f"  mentee  {email}" for _, email in DEMO_MENTEES),
    ]
