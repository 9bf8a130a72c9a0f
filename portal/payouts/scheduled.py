"""Scheduled payouts: every coach due on a day, paid once, each in its own transaction.

`run_scheduled_payouts(day)` is what `flask payouts run` and the nightly job call. For each coach
due that day (see `services.coaches_due`) it creates one payout of the whole available balance and
commits it before moving on, so one coach's failure (Stripe refusing, say) never undoes
another's payout. Running it twice for a day pays nobody twice: the first run empties the
available balance, and the idempotency key names the balance state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from portal.extensions import db
from portal.models import Payout
from portal.payouts import services
from portal.stripe_gateway import GatewayError


@dataclass
class ScheduledPayouts:
    day: date
    paid: list[Payout] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # coach id: why not

    def summary(self) -> str:
        return (
            f"Scheduled payouts for {self.day.isoformat()}: {len(self.paid)} created, "
            f"{len(self.failed)} failed."
        )


def run_scheduled_payouts(day: date) -> ScheduledPayouts:
    """Pay every coach due on `day`; commits each payout, rolls back each failure."""
    outcome = ScheduledPayouts(day)
    for coach_id in services.coaches_due(day):
        try:
            payout = services.pay_out_scheduled(coach_id, day)
            db.session.commit()
        except (services.PayoutError, GatewayError) as exc:
            db.session.rollback()
            outcome.failed[coach_id] = exc.message
            continue
        if payout is not None:
            outcome.paid.append(payout)
    return outcome
