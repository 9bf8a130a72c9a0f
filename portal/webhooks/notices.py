"""The admins are told by email of a Stripe event that keeps failing, once per event.

Why after `KEEPS_FAILING_AFTER` (4) failed attempts: a failure is retried by Stripe (in test
mode three times, the stand-in's default too, and in live mode for three days) and by the
`replay-missed` job, which applies every unsettled event of the last 24 hours every 15 minutes.
So the fourth failure comes after Stripe's first delivery and three retries, and at most about
45 minutes after the first failure whatever Stripe's own schedule: a passing cause (a deploy, a
database restart, Stripe unreachable while a handler read from it) has had three chances to
clear, and what is left is a handler that cannot apply the event, which only a person fixes
(the event's page shows the error and can reprocess it). Telling sooner would mail admins of
blips that mend themselves; later, only delays them.
"""

from __future__ import annotations

from portal.models import StripeEvent
from portal.outbox import queue_mail_to_admins, when

KEEPS_FAILING_AFTER = 4


def tell_admins_if_failing(row: StripeEvent) -> None:
    """Queue the admins' message once the event has failed `KEEPS_FAILING_AFTER` times (the
    caller commits it with the failure it records)."""
    if (row.attempts or 0) < KEEPS_FAILING_AFTER:
        return
    queue_mail_to_admins(
        "webhook.keeps_failing",
        f"A Stripe event keeps failing: {row.type} ({row.attempts} attempts)",
        "admin_event_failing",
        dedupe_key=f"webhook.keeps_failing:{row.stripe_event_id}",
        event=row,
        received=when(row.received_at) if row.received_at else None,
    )
