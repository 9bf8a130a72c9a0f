"""The dashboard's slow sections, kept rendered between views until what they show changes.

A busy coach's chart sums thousands of ledger entries, and each section costs as much to render
as to read, yet neither changes between most views. Each is kept by `portal.caching` under a
version of what it shows, read with the signed-in coach's profile and account (the database's
generation comes with the profile):

- the chart and newest activity under the coach's `ledger_entry_count`, which the ledger raises
  with every entry under the coach's row lock (entries, and the payments, sessions and refunds
  they show, are never edited once written); with the period, the day (a new week or month)
  and the currency they are written in;
- the payouts under the account's `payout_changes`, which `services.record_stripe_payout` (the
  only writer of payouts) raises with every payout it records or moves on, under the account's
  row lock;
- the reasons no payout is on its way (`waiting`) under both counters, with the coach's
  schedule and minimum, what Stripe last said of the account, and the day: the pending funds'
  dates it reads from Stripe change only when funds are released, which is a ledger entry.
"""

from __future__ import annotations

from datetime import date

from flask import render_template
from markupsafe import Markup

from portal import caching
from portal.extensions import db
from portal.models import CoachProfile, StripeConnectedAccount
from portal.payouts import earnings, waiting
from portal.payouts.chart import build_chart


def history(profile: CoachProfile, period: str, today: date, zone: str) -> Markup:
    """The chart by `period` up to `today`, and the newest activity, as HTML, its times in the
    reader's `zone`."""
    version = caching.Version(
        profile.database_generation,
        (
            profile.user_id,
            profile.ledger_entry_count,
            period,
            today,
            profile.currency,
            zone,
        ),
    )
    return caching.kept(
        "dashboard.history",
        version,
        lambda: _render_history(profile.user_id, period, today, profile.currency, zone),
    )


def payouts(profile: CoachProfile, account: StripeConnectedAccount | None, zone: str) -> Markup:
    """The newest payouts as HTML, times in `zone`; a coach without an account has none."""
    if account is None:
        return _render_payouts(profile.user_id, None)
    version = caching.Version(
        profile.database_generation,
        (profile.user_id, account.id, account.payout_changes, zone),
    )
    return caching.kept(
        "dashboard.payouts", version, lambda: _render_payouts(profile.user_id, account.id)
    )


def waiting_reasons(
    profile: CoachProfile,
    account: StripeConnectedAccount | None,
    today: date,
    get_paid_url: str,
    zone: str,
) -> tuple[waiting.Reason, ...]:
    """Why no payout is on its way now (`waiting.reasons`), kept until what it reads changes."""
    seen = (
        (
            account.id,
            account.payout_changes,
            account.payouts_enabled,
            tuple((account.requirements or {}).get("currently_due") or ()),
        )
        if account is not None
        else None
    )
    version = caching.Version(
        profile.database_generation,
        (
            profile.user_id,
            profile.ledger_entry_count,
            profile.payout_schedule,
            profile.minimum_payout,
            seen,
            today,
            get_paid_url,
            zone,
        ),
    )
    return caching.kept(
        "dashboard.waiting",
        version,
        lambda: _read_waiting(profile.user_id, seen, today, get_paid_url),
    )


def _read_waiting(
    coach_id: int,
    seen: tuple | None,  # type: ignore[type-arg]
    today: date,
    get_paid_url: str,
) -> tuple[waiting.Reason, ...]:
    profile = db.session.scalar(db.select(CoachProfile).where(CoachProfile.user_id == coach_id))
    account = db.session.get(StripeConnectedAccount, seen[0]) if seen else None
    assert profile is not None  # the caller read it
    return tuple(waiting.reasons(profile, account, today, get_paid_url=get_paid_url))


def _render_history(coach_id: int, period: str, today: date, currency: str, zone: str) -> Markup:
    read = earnings.read_history(coach_id, period, today, zone)
    return _render(
        "payouts/_history.html",
        chart=build_chart(read.buckets),
        activity=read.activity,
        period=period,
        currency=currency,
    )


def _render_payouts(coach_id: int, account_id: int | None) -> Markup:
    page = earnings.payouts_page(coach_id) if account_id else earnings.PayoutPage((), None)
    return _render("payouts/_payouts_table.html", payouts=page)


def _render(template: str, **context: object) -> Markup:
    return Markup(render_template(template, **context))  # noqa: S704 - autoescaped template
