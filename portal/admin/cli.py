"""`flask reconcile --since YYYY-MM-DD --until YYYY-MM-DD`: does the portal agree with Stripe?

Prints every mismatch between the portal's payments, refunds and payouts and Stripe's for the
period (both days included, UTC), then the ledger's own check. Exits 1 if anything disagrees,
so a scheduler can alert on it.
"""

from __future__ import annotations

from datetime import datetime

import click

from portal.admin import reconciliation
from portal.stripe_gateway import GatewayError


@click.command("reconcile")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day.")
@click.option("--until", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day.")
def reconcile_command(since: datetime, until: datetime) -> None:
    """Compare the portal's payments, refunds and payouts with Stripe's for a period."""
    if until < since:
        raise click.BadParameter("The period ends before it starts.", param_hint="--until")
    try:
        report = reconciliation.reconcile(since.date(), until.date())
    except GatewayError as exc:
        raise click.ClickException(f"Stripe could not be read: {exc.message}") from exc
    compared = ", ".join(f"{n} {kind}" for kind, n in sorted(report.compared.items())) or "nothing"
    click.echo(f"Compared {compared} from {report.since} to {report.until}.")
    for mismatch in report.mismatches:
        click.echo(f"MISMATCH {mismatch}")
    for drift in report.drift:
        click.echo(f"LEDGER {drift}")
    if not report.agrees:
        click.echo(f"{len(report.mismatches)} mismatch(es), {len(report.drift)} ledger problem(s).")
        raise SystemExit(1)
    click.echo("The portal agrees with Stripe, and the ledger verifies.")
