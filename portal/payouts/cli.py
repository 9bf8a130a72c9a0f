"""`flask payouts run`: pay coaches on a daily, weekly or monthly schedule.

Run it once a day (cron, a scheduler). For each coach due today (see
`services.coaches_due`: daily every day, weekly on Mondays, monthly on the 1st, UTC; payouts
enabled; available >= minimum payout) it creates one payout of the whole available balance and
commits it before moving on, so one coach's failure (Stripe refusing, say) never undoes
another's payout. Running it twice the same day pays nobody twice: the first run empties the
available balance, and the idempotency key names the balance state.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import click
from flask import Blueprint

from portal.extensions import db
from portal.money import format_money
from portal.payouts import services
from portal.stripe_gateway import GatewayError


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
    paid = failed = 0
    for coach_id in services.coaches_due(today):
        try:
            payout = services.pay_out_scheduled(coach_id, today)
            db.session.commit()
        except (services.PayoutError, GatewayError) as exc:
            db.session.rollback()
            failed += 1
            click.echo(f"coach {coach_id}: not paid: {exc.message}", err=True)
            continue
        if payout is not None:
            paid += 1
            amount = format_money(payout.amount, payout.currency)
            click.echo(f"coach {coach_id}: payout {payout.stripe_payout_id} of {amount}")
    click.echo(f"Scheduled payouts for {today.isoformat()}: {paid} created, {failed} failed.")
    if failed:
        raise SystemExit(1)
