""" "Why no payout yet" on the coach's dashboard: one plain sentence per reason that holds now,
each from a real state of the ledger, the schedule, the account and the last payout."""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

from flask import Flask

from portal.extensions import db
from portal.models import Payout, PayoutSchedule, PayoutStatus, User
from portal.payouts import services
from tests.builders import make_connected_account
from tests.payouts.conftest import earn, profile_of, release, signed_in
from tests.stripe_fake import FakeStripe


def _reasons(app: Flask, coach: User) -> dict[str, str]:
    page = html.unescape(signed_in(app, coach).get("/coach/earnings").text)
    return dict(re.findall(r'<li data-reason="([a-z]+)">(.*?)</li>', page, re.S))


def test_a_balance_below_the_minimum_says_by_how_much(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    make_connected_account(coach)
    profile = profile_of(coach)
    profile.payout_schedule, profile.minimum_payout = PayoutSchedule.WEEKLY, Decimal("50.00")
    db.session.commit()
    earn(coach, "40.00")  # share 32.00 at the default 20%
    release(coach)
    reasons = _reasons(app, coach)
    assert reasons == {
        "minimum": "Your available balance of $32.00 is $18.00 below your minimum payout of "
        "$50.00; it is paid on the first payout day it reaches it."
    }


def test_a_balance_above_the_minimum_waits_for_the_schedules_next_day(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    make_connected_account(coach)
    profile = profile_of(coach)
    profile.payout_schedule, profile.minimum_payout = PayoutSchedule.MONTHLY, Decimal("10.00")
    db.session.commit()
    earn(coach, "40.00")
    release(coach)
    day = services.next_payout_day(PayoutSchedule.MONTHLY, date.today())
    assert _reasons(app, coach) == {
        "schedule": "Your available balance is paid on your next monthly payout day, "
        f"{day:%a} {day.day} {day:%b}."
    }


def test_payouts_switched_off_by_stripe_name_what_it_needs_and_link_to_it(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    account = make_connected_account(coach)
    account.payouts_enabled = False
    account.requirements = {"currently_due": ["external_account", "individual.id_number"]}
    db.session.commit()
    reasons = _reasons(app, coach)
    assert reasons["disabled"].startswith(
        "Stripe has switched payouts to you off: it still needs "
        f"{', '.join(services.describe_requirements(account.requirements['currently_due']))}."
    )
    assert 'href="/coach/earnings/get-paid"' in reasons["disabled"]


def test_a_failed_last_payout_says_why_in_words_and_what_to_fix(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    account = make_connected_account(coach)
    profile = profile_of(coach)
    profile.payout_schedule = PayoutSchedule.INSTANT
    db.session.add(
        Payout(
            stripe_payout_id="po_failed",
            amount=Decimal("25.00"),
            currency="USD",
            status=PayoutStatus.FAILED,
            user_id=coach.id,
            connected_account_id=account.id,
            meta={"failure_code": "account_closed"},
        )
    )
    db.session.commit()
    failed = _reasons(app, coach)["failed"]
    assert "Your last payout of $25.00 on" in failed
    assert "failed: the bank account has been closed." in failed
    assert "check your bank details on Stripe's page" in failed
