"""`flask payouts run`: pay coaches on a daily, weekly or monthly schedule.

The portal's task queue runs the same function every day (see `portal.tasks`); the command is
for operators and tests. Coaches are due by `services.coaches_due`: daily every day, weekly on
Mondays, monthly on the 1st; payouts enabled; available >= minimum payout. Running it twice the
same day pays nobody twice (see `portal.payouts.scheduled`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import click
from flask import Blueprint

from portal.money import format_money
from portal.payouts.scheduled import run_scheduled_payouts


def register(bp: Blueprint) -> None:
    bp.cli.add_command(run_command)


@click.command("run")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Act as if today (UTC) were this day, YYYY-MM-DD.",
)
def run_command(day: datetime | None) -> None:
    """Create today's payouts for scheduled coaches with enough available balance."""
    today: date = day.date() if day else datetime.now(UTC).date()
    outcome = run_scheduled_payouts(today)
    for coach_id, message in outcome.failed.items():
        click.echo(f"coach {coach_id}: not paid: {message}", err=True)
    for payout in outcome.paid:
        amount = format_money(payout.amount, payout.currency)
        click.echo(f"coach {payout.user_id}: payout {payout.stripe_payout_id} of {amount}")
    click.echo(outcome.summary())
    if outcome.failed:
        raise SystemExit(1)
