"""Why no payout yet: one plain sentence for each reason that holds now, with what happens next.

What it promises:

- Each reason is read from a real state: the ledger's balances (which equal Stripe's), the
  coach's schedule and minimum, the connected account as Stripe last reported it, the last
  payout, and the dates Stripe gives pending funds (its balance transactions).
- A balance below zero is explained by what took it there: the refunds and lost-dispute
  recoveries taken from it since the last payout, and that new earnings repay it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    CoachProfile,
    LedgerEntry,
    LedgerEntryKind,
    Payout,
    PayoutSchedule,
    PayoutStatus,
    StripeConnectedAccount,
)
from portal.money import format_money, from_minor_units
from portal.payouts.services import next_payout_day
from portal.payouts.words import FAILURE_WORDS, describe_requirements
from portal.stripe_gateway import GatewayError
from portal.stripe_gateway import connect as gateway

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Reason:
    key: str  # pending, minimum, schedule, disabled, negative, failed
    sentence: str
    link: str | None = None  # where to act, when the coach must


def reasons(
    profile: CoachProfile,
    account: StripeConnectedAccount | None,
    today: date,
    *,
    get_paid_url: str,
) -> list[Reason]:
    """Every reason a payout is not on its way now, most urgent first."""
    found: list[Reason | None] = [
        _disabled(account, get_paid_url),
        _failed(profile.user_id, get_paid_url),
        _negative(profile),
        _below_minimum(profile),
        _schedule(profile, today),
        _pending(profile, account),
    ]
    return [r for r in found if r is not None]


def _money(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency)


def _day(moment: datetime | date) -> str:
    return f"{moment:%a} {moment.day} {moment:%b}"


def _disabled(account: StripeConnectedAccount | None, link: str) -> Reason | None:
    if account is None or account.payouts_enabled:
        return None
    needed = describe_requirements((account.requirements or {}).get("currently_due"))
    what = f"it still needs {', '.join(needed)}" if needed else "it is still checking your details"
    return Reason(
        "disabled",
        f"Stripe has switched payouts to you off: {what}. Give it on Stripe's page; payouts "
        "start again as soon as Stripe accepts it.",
        link,
    )


def _failed(coach_id: int, link: str) -> Reason | None:
    last = db.session.scalar(
        sa.select(Payout)
        .where(Payout.user_id == coach_id)
        .order_by(Payout.created_at.desc(), Payout.id.desc())
        .limit(1)
    )
    if last is None or last.status is not PayoutStatus.FAILED:
        return None
    code = str((last.meta or {}).get("failure_code") or "")
    why = FAILURE_WORDS.get(code, "the bank returned it")
    return Reason(
        "failed",
        f"Your last payout of {_money(last.amount, last.currency)} on {_day(last.created_at)} "
        f"failed: {why}. The money is back in your available balance; check your bank "
        "details on Stripe's page, and the next payout will send it again.",
        link,
    )


def _negative(profile: CoachProfile) -> Reason | None:
    available, currency = profile.available_balance, profile.currency
    if available >= ZERO:
        return None
    taken = db.session.execute(
        sa.select(LedgerEntry.kind, LedgerEntry.available_delta, LedgerEntry.created_at)
        .where(
            LedgerEntry.coach_id == profile.user_id,
            LedgerEntry.kind.in_((LedgerEntryKind.REFUND, LedgerEntryKind.DISPUTE)),
            LedgerEntry.available_delta < 0,
        )
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
        .limit(3)
    ).all()
    paid_before = db.session.scalar(
        sa.select(sa.func.max(Payout.created_at)).where(
            Payout.user_id == profile.user_id,
            Payout.status.not_in((PayoutStatus.FAILED, PayoutStatus.CANCELED)),
        )
    )
    causes = []
    for kind, delta, at in taken:
        what = "refund" if kind is LedgerEntryKind.REFUND else "recovery for a lost dispute"
        causes.append(f"a {_money(-delta, currency)} {what} on {_day(at)}")
    after = f" came after your payout of {_day(paid_before)}" if paid_before else ""
    why = f": {' and '.join(causes)}{after}" if causes else ""
    return Reason(
        "negative",
        f"{_money(available, currency)}{why}. It will be taken from your next earnings before "
        "anything is paid out; no payout is made while your balance is below zero.",
    )


def _below_minimum(profile: CoachProfile) -> Reason | None:
    available, minimum = profile.available_balance, profile.minimum_payout
    if profile.payout_schedule is PayoutSchedule.INSTANT or available < ZERO:
        return None
    if available >= minimum:
        return None
    short = minimum - available
    return Reason(
        "minimum",
        f"Your available balance of {_money(available, profile.currency)} is "
        f"{_money(short, profile.currency)} below your minimum payout of "
        f"{_money(minimum, profile.currency)}; it is paid on the first payout day it reaches it.",
    )


def _schedule(profile: CoachProfile, today: date) -> Reason | None:
    day = next_payout_day(profile.payout_schedule, today)
    if day is None or profile.available_balance <= ZERO:
        return None
    if profile.available_balance < profile.minimum_payout:
        return None  # said by the minimum's sentence
    return Reason(
        "schedule",
        f"Your available balance is paid on your next {profile.payout_schedule.value} payout "
        f"day, {_day(day)}.",
    )


def _pending(profile: CoachProfile, account: StripeConnectedAccount | None) -> Reason | None:
    pending, currency = profile.pending_balance, profile.currency
    if pending <= ZERO:
        return None
    dates = ""
    if account is not None:
        try:
            parts = gateway.pending_funds(account.stripe_account_id, currency)
        except GatewayError:
            parts = []
        by_day: dict[date, int] = {}
        for available_on, net in parts:
            day = datetime.fromtimestamp(available_on, UTC).date()
            by_day[day] = by_day.get(day, 0) + net
        if by_day:
            dates = ": " + ", ".join(
                f"{_money(from_minor_units(net, currency), currency)} on {_day(day)}"
                for day, net in sorted(by_day.items())
            )
    return Reason(
        "pending",
        f"{_money(pending, currency)} is still on its way from Stripe and becomes available"
        f"{dates or ' in a few days'}.",
    )
