"""`flask stripe ...`: recovering events whose webhooks never arrived."""

from __future__ import annotations

import time

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from portal.extensions import db
from portal.models import StripeConnectedAccount
from portal.stripe_gateway import GatewayError
from portal.stripe_gateway import event_log as stripe_events
from portal.webhooks.runner import apply_event, is_settled

stripe_cli = AppGroup("stripe", help="Work with the Stripe account behind the portal.")


@stripe_cli.command("replay-missed")
@click.option("--since-hours", default=72, show_default=True, type=click.IntRange(1, 720))
def replay_missed_command(since_hours: int) -> None:
    """Apply recent Stripe events the portal has not processed (the platform's and every
    connected account's), oldest first, through the same runner as the webhooks."""
    since = int(time.time()) - since_hours * 3600
    accounts = db.session.scalars(sa.select(StripeConnectedAccount.stripe_account_id)).all()
    db.session.rollback()
    try:
        events = [e for account in [None, *accounts] for e in _events(since, account)]
    except GatewayError as exc:
        raise click.ClickException(exc.message) from exc
    applied = failed = 0
    for event in sorted(events, key=lambda e: (e.get("created") or 0, e["id"])):
        if is_settled(event["id"]):
            continue
        outcome = apply_event(event)
        click.echo(f"{outcome.status:<10} {event['id']} {event['type']} {outcome.message}".rstrip())
        if outcome.failed:
            failed += 1
        elif outcome.status != "duplicate":
            applied += 1
    click.echo(f"Replayed {applied} missed event(s) of {len(events)} listed; {failed} failed.")
    if failed:
        raise SystemExit(1)


def _events(since: int, account: str | None) -> list[dict]:
    return [
        {**e, "account": e.get("account") or account} if account else e
        for e in stripe_events.list_events(since, account=account)
    ]
