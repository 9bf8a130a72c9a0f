"""Recovering events whose webhooks never arrived: list Stripe's recent events (the platform's and
every connected account's) and apply those the portal has not settled, oldest first, through the
same runner as the webhooks. Applying is idempotent, so a replay can run any number of times."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from portal.extensions import db
from portal.models import StripeConnectedAccount
from portal.stripe_gateway import event_log as stripe_events
from portal.webhooks.runner import Outcome, apply_event, is_settled


@dataclass
class Replay:
    listed: int = 0
    applied: int = 0
    failed: int = 0
    outcomes: list[tuple[dict, Outcome]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"Replayed {self.applied} missed event(s) of {self.listed} listed; "
            f"{self.failed} failed."
        )


def replay_missed(since_hours: int) -> Replay:
    """Apply the unsettled events of the last `since_hours`; raises GatewayError when Stripe
    cannot be listed (nothing applied then)."""
    since = int(time.time()) - since_hours * 3600
    accounts = db.session.scalars(sa.select(StripeConnectedAccount.stripe_account_id)).all()
    db.session.rollback()
    events = [e for account in [None, *accounts] for e in _events(since, account)]
    replay = Replay(listed=len(events))
    for event in sorted(events, key=lambda e: (e.get("created") or 0, e["id"])):
        if is_settled(event["id"]):
            continue
        outcome = apply_event(event)
        replay.outcomes.append((event, outcome))
        if outcome.failed:
            replay.failed += 1
        elif outcome.status != "duplicate":
            replay.applied += 1
    return replay


def _events(since: int, account: str | None) -> list[dict]:
    return [
        {**e, "account": e.get("account") or account} if account else e
        for e in stripe_events.list_events(since, account=account)
    ]
