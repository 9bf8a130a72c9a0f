"""What a coach, and the admins, are told by email of payouts and of what Stripe still needs,
queued in the unit of work of the change that causes it (`portal.outbox`).

- A payout is told at each status it reaches: on its way (when first seen pending or in
  transit), paid, failed. `record_stripe_payout`, the one writer of payouts, calls
  `payout_moved` under the account's row lock and moves a status forward only, so a redelivered
  or late event tells nothing twice; each message's dedupe key is the last line. A failed payout
  says why in words (`FAILURE_WORDS`) and what to do, and the admins hear of it too.
- Stripe asking for more information is told when a need appears that the last
  `account.updated` did not list, once the coach has finished onboarding (until then the "Get
  paid" page walks them through each step): a need answered, or the same needs again, tells
  nothing.

Only "on its way" can be switched off (`User.optional_mail`): its outcome, paid or failed, is
always mailed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from portal.models import Payout, PayoutStatus, StripeConnectedAccount
from portal.money import format_money
from portal.outbox import day, queue_mail, queue_mail_to_admins, when
from portal.payouts.words import FAILURE_WORDS, describe_requirements

ON_ITS_WAY = (PayoutStatus.PENDING, PayoutStatus.IN_TRANSIT)
UNKNOWN_FAILURE = "the bank returned it"
# Failures the next payout may cure by itself; after any other (an unknown code too) the coach
# must check or change the bank details Stripe has.
NEXT_PAYOUT_MAY_CURE = frozenset({"could_not_process", "declined", "insufficient_funds"})


def payout_moved(payout: Payout, before: PayoutStatus | None) -> None:
    """Tell the coach (and, for a failure, the admins) of the status `payout` has just reached."""
    if payout.status == before:
        return
    if payout.status in ON_ITS_WAY and before is None:
        _tell_coach(payout, "sent", f"Payout on its way: {_amount(payout)}", optional=True)
    elif payout.status is PayoutStatus.PAID:
        _tell_coach(payout, "paid", f"Payout paid: {_amount(payout)} reached your bank")
    elif payout.status is PayoutStatus.FAILED:
        _tell_coach(payout, "failed", f"Payout failed: {_amount(payout)} did not reach your bank")
        _tell_admins_of_failure(payout)


def _amount(payout: Payout) -> str:
    return format_money(payout.amount, payout.currency)


def _failure(payout: Payout) -> tuple[str, str]:
    code = str((payout.meta or {}).get("failure_code") or "")
    return code, FAILURE_WORDS.get(code, UNKNOWN_FAILURE)


def _tell_coach(payout: Payout, what: str, subject: str, *, optional: bool = False) -> None:
    coach = payout.user
    code, why = _failure(payout)
    queue_mail(
        f"payout.{what}",
        coach,
        subject,
        f"payout_{what}",
        dedupe_key=f"payout.{what}:{payout.stripe_payout_id}",
        optional=optional,
        payout=payout,
        amount=_amount(payout),
        arrival=day(payout.arrival_date, coach) if payout.arrival_date else None,
        why=why,
        new_bank_details=code not in NEXT_PAYOUT_MAY_CURE,
    )


def _tell_admins_of_failure(payout: Payout) -> None:
    code, why = _failure(payout)
    queue_mail_to_admins(
        "payout.failed_admin",
        f"Payout failed: {payout.user.name}, {_amount(payout)}",
        "admin_payout_failed",
        dedupe_key=f"payout.failed_admin:{payout.stripe_payout_id}",
        payout=payout,
        amount=_amount(payout),
        code=code or "none given",
        why=why,
    )


def stripe_needs_more(account: StripeConnectedAccount, before: dict[str, Any] | None) -> None:
    """Tell the coach what Stripe now asks for, when `account.updated` lists a new need.

    `before` is the account's `requirements` as the portal had them before this update (None:
    never read, so nothing to compare with).
    """
    due = list((account.requirements or {}).get("currently_due") or [])
    if before is None or not account.details_submitted:
        return
    new = set(due) - set(before.get("currently_due") or [])
    if not new:
        return
    coach = account.user
    needed = describe_requirements(due)
    deadline = (account.requirements or {}).get("current_deadline")
    by = datetime.fromtimestamp(deadline, UTC) if isinstance(deadline, int) else None
    subject = (
        f"Stripe needs {needed[0]} to keep paying you"
        if len(needed) == 1
        else f"Stripe needs {len(needed)} more details to keep paying you"
    )
    queue_mail(
        "account.stripe_needs_more",
        coach,
        subject[:255],
        "stripe_needs_more",
        needed=needed,
        payouts_enabled=account.payouts_enabled,
        deadline=when(by, coach) if by else None,
    )
