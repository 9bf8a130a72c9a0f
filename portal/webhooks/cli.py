"""`flask stripe ...`: recovering events whose webhooks never arrived."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.stripe_gateway import GatewayError
from portal.webhooks.replay import replay_missed

stripe_cli = AppGroup("stripe", help="Work with the Stripe account behind the portal.")


@stripe_cli.command("replay-missed")
@click.option("--since-hours", default=72, show_default=True, type=click.IntRange(1, 720))
def replay_missed_command(since_hours: int) -> None:
    """Apply recent Stripe events the portal has not processed (the platform's and every
    connected account's), oldest first, through the same runner as the webhooks."""
    try:
        replay = replay_missed(since_hours)
    except GatewayError as exc:
        raise click.ClickException(exc.message) from exc
    for event, outcome in replay.outcomes:
        click.echo(f"{outcome.status:<10} {event['id']} {event['type']} {outcome.message}".rstrip())
    click.echo(replay.summary())
    if replay.failed:
        raise SystemExit(1)
