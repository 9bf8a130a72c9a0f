"""Payouts: scheduled by `flask payouts run` above the minimum, on demand for instant coaches,
once per click, recorded at once and moved forward by `payout.*` events; a failed payout's money
comes back to available."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal import ledger
from portal.extensions import db
from portal.models import (
    LedgerEntry,
    LedgerEntryKind,
    Payout,
    PayoutSchedule,
    PayoutStatus,
    Role,
    User,
)
from portal.payouts import services
from tests.builders import make_connected_account, make_user
from tests.payouts.conftest import (
    ATTEMPT,
    Live,
    balances,
    earn,
    onboard_in_browser,
    post_form,
    profile_of,
    release,
    signed_in,
    start_onboarding,
)
from tests.stripe_fake import FakeStripe
from tests.webhooks import payloads
from tests.webhooks.signing import CONNECT_PATH, connect_secret, signed_post

MONDAY = date(2026, 11, 30)
TUESDAY = date(2026, 12, 1)  # also the 1st of the month


def _coach_with_available(
    amount: str, *, schedule: PayoutSchedule, minimum: str = "100.00", email: str | None = None
) -> User:
    """A payable coach whose whole share of one payment is available."""
    coach = make_user(
        Role.COACH,
        email,
        payout_schedule=schedule,
        minimum_payout=Decimal(minimum),
        platform_fee_percentage=Decimal("0"),
    )
    make_connected_account(coach)
    earn(coach, amount)
    release(coach)
    return coach


def _payouts(coach: User) -> list[Payout]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Payout).where(Payout.user_id == coach.id)))


def _run(app: Flask, day: date) -> object:
    return app.test_cli_runner().invoke(args=["payouts", "run", "--date", day.isoformat()])


# --- the schedule rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "day", "due"),
    [
        (PayoutSchedule.DAILY, TUESDAY, True),
        (PayoutSchedule.WEEKLY, MONDAY, True),
        (PayoutSchedule.WEEKLY, TUESDAY, False),
        (PayoutSchedule.MONTHLY, TUESDAY, True),
        (PayoutSchedule.MONTHLY, MONDAY, False),
        (PayoutSchedule.INSTANT, MONDAY, False),
    ],
)
def test_payout_day_rule(schedule: PayoutSchedule, day: date, due: bool) -> None:
    assert services.is_payout_day(schedule, day) is due


def test_next_payout_day_is_the_next_day_the_rule_allows() -> None:
    assert services.next_payout_day(PayoutSchedule.WEEKLY, TUESDAY) == date(2026, 12, 7)
    assert services.next_payout_day(PayoutSchedule.MONTHLY, MONDAY) == TUESDAY
    assert services.next_payout_day(PayoutSchedule.INSTANT, MONDAY) is None


# --- flask payouts run ------------------------------------------------------------------------


def test_run_pays_coaches_over_their_minimum_and_leaves_those_under_it(
    app: Flask, stripe_fake: FakeStripe
) -> None:
    over = _coach_with_available("150.00", schedule=PayoutSchedule.WEEKLY)
    under = _coach_with_available("60.00", schedule=PayoutSchedule.WEEKLY)
    exact = _coach_with_available("100.00", schedule=PayoutSchedule.DAILY)
    instant = _coach_with_available("500.00", schedule=PayoutSchedule.INSTANT)

    result = _run(app, MONDAY)
    assert result.exit_code == 0, result.output
    assert "2 created, 0 failed" in result.output

    [paid] = _payouts(over)
    assert (paid.amount, paid.status) == (Decimal("150.00"), PayoutStatus.PENDING)
    assert paid.arrival_date is not None
    assert balances(over).available == Decimal("0.00")
    assert [p.amount for p in _payouts(exact)] == [Decimal("100.00")]
    assert _payouts(under) == [] and balances(under).available == Decimal("60.00")
    assert _payouts(instant) == [] and balances(instant).available == Decimal("500.00")
    amounts = sorted(d["amount"] for n, d in stripe_fake.calls if n == "payouts.create")
    assert amounts == [10000, 15000]
    assert ledger.verify() == []


def test_run_on_a_day_that_is_not_the_coach_payout_day_pays_nobody(
    app: Flask, stripe_fake: FakeStripe
) -> None:
    coach = _coach_with_available("150.00", schedule=PayoutSchedule.WEEKLY)
    result = _run(app, TUESDAY)
    assert result.exit_code == 0 and "0 created" in result.output
    assert _payouts(coach) == [] and stripe_fake.count("payouts.create") == 0


def test_running_twice_the_same_day_pays_once(app: Flask, stripe_fake: FakeStripe) -> None:
    coach = _coach_with_available("150.00", schedule=PayoutSchedule.DAILY)
    assert _run(app, MONDAY).exit_code == 0
    assert _run(app, MONDAY).exit_code == 0
    assert len(_payouts(coach)) == 1 and stripe_fake.count("payouts.create") == 1


def test_a_coach_stripe_refuses_is_reported_and_others_are_still_paid(
    app: Flask, stripe_fake: FakeStripe
) -> None:
    short = _coach_with_available("150.00", schedule=PayoutSchedule.DAILY)
    fine = _coach_with_available("120.00", schedule=PayoutSchedule.DAILY)
    stripe_fake.available[short.stripe_connect_account_id] = 100  # Stripe holds less
    result = _run(app, MONDAY)
    assert result.exit_code == 1
    assert f"coach {short.id}: not paid: You have insufficient funds" in result.output
    assert _payouts(short) == [] and balances(short).available == Decimal("150.00")
    assert len(_payouts(fine)) == 1


def test_coaches_without_payouts_enabled_are_not_paid(app: Flask, stripe_fake: FakeStripe) -> None:
    coach = _coach_with_available("150.00", schedule=PayoutSchedule.DAILY)
    coach.stripe_connected_account.payouts_enabled = False
    db.session.commit()
    assert _run(app, MONDAY).exit_code == 0
    assert _payouts(coach) == []


def test_scheduled_payout_through_the_offline_stripe_is_paid(
    live: Live, app: Flask, coach: User, coach_client: FlaskClient
) -> None:
    coach_client.get(onboard_in_browser(live, start_onboarding(coach_client)))
    account_id = db.session.get(User, coach.id).stripe_connect_account_id
    for _ in range(2):
        earn(coach, "100.00", paid=live.destination_charge(account_id, 10000, 2000))
    post_form(
        coach_client, "/coach/earnings/settings", payout_schedule="weekly", minimum_payout="100"
    )
    assert balances(coach).pending == Decimal("160.00")
    live.advance(2 * 86400 + 1)  # balance.available reaches the portal
    assert balances(coach).available == Decimal("160.00")

    result = _run(app, MONDAY)
    assert result.exit_code == 0, result.output
    [payout] = _payouts(coach)
    assert payout.amount == Decimal("160.00") and payout.status is PayoutStatus.PENDING
    stripe_balance = live.stripe.v1.balance.retrieve(options={"stripe_account": account_id})
    assert stripe_balance.available[0].amount == 0

    live.advance(2 * 86400 + 1)
    [payout] = _payouts(coach)
    assert payout.status is PayoutStatus.PAID
    assert balances(coach) == ledger.Balances(Decimal("160.00"), Decimal("0.00"), Decimal("0.00"))
    assert ledger.verify() == [] and live.deliveries_failed() == []


# --- pay out now ------------------------------------------------------------------------------


def test_instant_coach_confirms_and_is_paid_out_through_the_offline_stripe(
    live: Live, coach: User, coach_client: FlaskClient
) -> None:
    coach_client.get(onboard_in_browser(live, start_onboarding(coach_client)))
    account_id = db.session.get(User, coach.id).stripe_connect_account_id
    earn(coach, "100.00", paid=live.destination_charge(account_id, 10000, 2000))
    live.advance(2 * 86400 + 1)

    dashboard = coach_client.get("/coach/earnings")
    assert "Pay out now" in dashboard.text
    confirm = coach_client.get("/coach/earnings/pay-out")
    assert "Pay out <strong>$80.00</strong>" in confirm.text
    response = post_form(coach_client, "/coach/earnings/pay-out", amount="80.00", attempt=ATTEMPT)
    assert response.status_code == 303 and response.headers["Location"] == "/coach/earnings"
    page = coach_client.get("/coach/earnings")
    assert "Your payout of $80.00 is on its way" in page.text
    [payout] = _payouts(coach)
    assert payout.amount == Decimal("80.00")
    assert balances(coach).available == Decimal("0.00")

    live.advance(2 * 86400 + 1)
    assert _payouts(coach)[0].status is PayoutStatus.PAID
    assert "Paid" in coach_client.get("/coach/earnings").text
    assert ledger.verify() == [] and live.deliveries_failed() == []


def test_double_clicked_pay_out_now_pays_once(app: Flask, stripe_fake: FakeStripe) -> None:
    coach = _coach_with_available("80.00", schedule=PayoutSchedule.INSTANT)
    client = signed_in(app, coach)
    first = post_form(client, "/coach/earnings/pay-out", amount="80.00", attempt=ATTEMPT)
    second = post_form(client, "/coach/earnings/pay-out", amount="80.00", attempt=ATTEMPT)
    assert first.status_code == second.status_code == 303
    assert len(_payouts(coach)) == 1 and stripe_fake.count("payouts.create") == 1
    assert balances(coach).available == Decimal("0.00")
    assert "Nothing is available to pay out" in client.get(second.headers["Location"]).text


def test_a_retried_payout_reuses_stripe_payout_for_the_same_balance(
    app: Flask, stripe_fake: FakeStripe
) -> None:
    coach = _coach_with_available("80.00", schedule=PayoutSchedule.INSTANT)
    services.pay_out_now(coach.id, confirmed_amount=Decimal("80.00"), attempt=ATTEMPT)
    db.session.rollback()  # the request died after Stripe answered, before our commit
    services.pay_out_now(coach.id, confirmed_amount=Decimal("80.00"), attempt=ATTEMPT)
    db.session.commit()
    keys = {d["key"] for n, d in stripe_fake.calls if n == "payouts.create"}
    assert len(keys) == 1
    assert len(_payouts(coach)) == 1 and balances(coach).available == Decimal("0.00")


def test_pay_out_now_refuses_an_amount_the_balance_no_longer_has(
    app: Flask, stripe_fake: FakeStripe
) -> None:
    coach = _coach_with_available("80.00", schedule=PayoutSchedule.INSTANT)
    client = signed_in(app, coach)
    response = post_form(client, "/coach/earnings/pay-out", amount="95.00", attempt=ATTEMPT)
    assert response.status_code == 303
    assert "Your available balance changed" in client.get(response.headers["Location"]).text
    assert _payouts(coach) == [] and stripe_fake.count("payouts.create") == 0


@pytest.mark.parametrize(
    ("schedule", "enabled", "message"),
    [
        (PayoutSchedule.WEEKLY, True, "Your payouts run on a weekly schedule"),
        (PayoutSchedule.INSTANT, False, "Stripe has not enabled payouts on your account"),
    ],
)
def test_pay_out_now_is_only_for_payable_instant_coaches(
    app: Flask, stripe_fake: FakeStripe, schedule: PayoutSchedule, enabled: bool, message: str
) -> None:
    coach = _coach_with_available("80.00", schedule=schedule)
    coach.stripe_connected_account.payouts_enabled = enabled
    db.session.commit()
    client = signed_in(app, coach)
    assert "Pay out now</a>" not in client.get("/coach/earnings").text
    response = post_form(client, "/coach/earnings/pay-out", amount="80.00", attempt=ATTEMPT)
    assert message in client.get(response.headers["Location"]).text
    assert _payouts(coach) == []


def test_pay_out_now_with_nothing_available_is_refused(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    make_connected_account(coach)
    client = signed_in(app, coach)
    assert "Nothing is available to pay out" in client.get("/coach/earnings/pay-out").text
    response = post_form(client, "/coach/earnings/pay-out", amount="0.00", attempt=ATTEMPT)
    assert "Nothing is available" in client.get(response.headers["Location"]).text
    assert stripe_fake.count("payouts.create") == 0


def test_pay_out_now_without_its_amount_is_a_bad_request(
    app: Flask, stripe_fake: FakeStripe
) -> None:
    coach = _coach_with_available("80.00", schedule=PayoutSchedule.INSTANT)
    client = signed_in(app, coach)
    assert post_form(client, "/coach/earnings/pay-out").status_code == 400
    assert post_form(client, "/coach/earnings/pay-out", amount="lots").status_code == 400
    assert _payouts(coach) == []


# --- payout events ----------------------------------------------------------------------------


def _event(client: FlaskClient, coach: User, status: str, payout_id: str, amount: int) -> None:
    obj = payloads.payout(payout_id, amount, status=status)
    event = payloads.event(f"payout.{status}" if status != "pending" else "payout.created", obj,
                           account=coach.stripe_connect_account_id)  # fmt: skip
    response = signed_post(client, CONNECT_PATH, event, connect_secret(client))
    assert response.status_code == 200, response.text


def test_payout_paid_then_failed_leaves_it_failed_with_the_money_available_again(
    app: Flask, client: FlaskClient, stripe_fake: FakeStripe
) -> None:
    coach = _coach_with_available("80.00", schedule=PayoutSchedule.INSTANT)
    payout = services.pay_out_now(coach.id, confirmed_amount=Decimal("80.00"), attempt=ATTEMPT)
    db.session.commit()
    assert balances(coach).available == Decimal("0.00")

    _event(client, coach, "paid", payout.stripe_payout_id, 8000)
    assert _payouts(coach)[0].status is PayoutStatus.PAID
    assert balances(coach).available == Decimal("0.00")

    _event(client, coach, "failed", payout.stripe_payout_id, 8000)
    [failed] = _payouts(coach)
    assert failed.status is PayoutStatus.FAILED
    assert failed.meta["failure_message"] == "The bank account has been closed."
    assert balances(coach).available == Decimal("80.00")
    kinds = db.session.scalars(
        sa.select(LedgerEntry.kind).where(LedgerEntry.payout_id == failed.id)
    ).all()
    assert sorted(kinds) == [LedgerEntryKind.PAYOUT, LedgerEntryKind.PAYOUT_RETURNED]
    assert ledger.verify() == []

    page = signed_in(app, coach).get("/coach/earnings")
    assert "Failed" in page.text and "The bank account has been closed." in page.text
    assert "The money is back in your available balance." in page.text

    _event(client, coach, "paid", payout.stripe_payout_id, 8000)  # late, older news
    assert _payouts(coach)[0].status is PayoutStatus.FAILED
    assert balances(coach).available == Decimal("80.00")


def test_payout_events_before_the_portal_records_its_own_payout_make_one_row(
    client: FlaskClient, coach: User
) -> None:
    make_connected_account(coach)
    earn(coach, "100.00")
    release(coach)
    _event(client, coach, "paid", "po_early", 5000)
    account = services.connected_account_for(coach.stripe_connect_account_id, lock=True)
    services.record_stripe_payout(account, payloads.payout("po_early", 5000, status="pending"))
    db.session.commit()
    [payout] = _payouts(coach)
    assert payout.status is PayoutStatus.PAID
    assert balances(coach).available == Decimal("30.00")


def test_failing_bank_account_through_the_offline_stripe_returns_the_money(
    live: Live, coach: User, coach_client: FlaskClient
) -> None:
    link = start_onboarding(coach_client)
    coach_client.get(onboard_in_browser(live, link, account_number="000111111116"))
    account_id = db.session.get(User, coach.id).stripe_connect_account_id
    earn(coach, "100.00", paid=live.destination_charge(account_id, 10000, 2000))
    live.advance(2 * 86400 + 1)
    post_form(coach_client, "/coach/earnings/pay-out", amount="80.00", attempt=ATTEMPT)
    assert balances(coach).available == Decimal("0.00")

    live.advance(2 * 86400 + 1)
    [payout] = _payouts(coach)
    assert payout.status is PayoutStatus.FAILED
    assert balances(coach).available == Decimal("80.00")
    page = coach_client.get("/coach/earnings")
    assert "The bank account details on file are probably incorrect." in page.text
    assert ledger.verify() == [] and live.deliveries_failed() == []


# --- payout settings --------------------------------------------------------------------------


def test_payout_settings_are_saved_and_stripe_is_kept_on_manual(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    make_connected_account(coach)
    client = signed_in(app, coach)
    page = client.get("/coach/earnings/settings")
    assert 'value="100.00"' in page.text
    response = post_form(
        client, "/coach/earnings/settings", payout_schedule="monthly", minimum_payout="250.50"
    )
    assert response.status_code == 303
    profile = profile_of(coach)
    assert profile.payout_schedule is PayoutSchedule.MONTHLY
    assert profile.minimum_payout == Decimal("250.50")
    [(name, details)] = stripe_fake.calls
    assert name == "accounts.update"
    assert details["schedule"] == {"interval": "manual"}
    assert details["metadata"] == {"payout_schedule": "monthly"}


@pytest.mark.parametrize(
    ("minimum", "message"),
    [
        ("-1", "Enter an amount from 0 to 1,000,000.00."),
        ("1.234", "Use at most two decimal places."),
        ("", "Enter a minimum payout"),
        ("2000000", "Enter an amount from 0 to 1,000,000.00."),
    ],
)
def test_bad_payout_settings_are_refused_and_change_nothing(
    app: Flask, coach: User, stripe_fake: FakeStripe, minimum: str, message: str
) -> None:
    make_connected_account(coach)
    client = signed_in(app, coach)
    response = post_form(
        client, "/coach/earnings/settings", payout_schedule="daily", minimum_payout=minimum
    )
    assert response.status_code == 400 and message in response.text
    profile = profile_of(coach)
    assert profile.payout_schedule is PayoutSchedule.INSTANT
    assert profile.minimum_payout == Decimal("100.00")
    assert stripe_fake.calls == []


def test_stripe_refusing_the_schedule_leaves_the_settings_as_they_were(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    from portal.stripe_gateway import StripeUnavailable

    make_connected_account(coach)
    stripe_fake.fail_with = StripeUnavailable("We could not reach our payment provider.")
    client = signed_in(app, coach)
    response = post_form(
        client, "/coach/earnings/settings", payout_schedule="weekly", minimum_payout="50"
    )
    assert response.status_code == 303
    assert "not changed" in client.get(response.headers["Location"]).text
    profile = profile_of(coach)
    assert profile.payout_schedule is PayoutSchedule.INSTANT
    assert profile.minimum_payout == Decimal("100.00")
