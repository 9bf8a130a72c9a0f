"""Automatic payouts on daily, weekly and monthly schedules, manual ones left alone, and instant
payouts to a debit card with Stripe's fee."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
import stripe

from stripe_sandbox.connect import WEEKDAYS

DAY = 86400


def _earn(client, coach, amount=10000, fee=2000):
    customer = client.v1.customers.create(params={"email": "m@example.com"})
    pi = client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "application_fee_amount": fee,
            "transfer_data": {"destination": coach},
        }
    )
    return client.v1.charges.retrieve(pi.latest_charge)


def _today(sandbox) -> dt.date:
    now = requests.get(sandbox.url + "/_sandbox/clock", timeout=5).json()["now"]
    return dt.datetime.fromtimestamp(now, dt.UTC).date()


def _seconds_to_day(sandbox, days: int) -> int:
    """Seconds from now to one second past midnight (UTC) `days` days from today."""
    now = requests.get(sandbox.url + "/_sandbox/clock", timeout=5).json()["now"]
    midnight = dt.datetime.combine(_today(sandbox), dt.time(), dt.UTC)
    return int((midnight + dt.timedelta(days=days)).timestamp()) - now + 1


def test_a_daily_schedule_pays_out_what_became_available(client, sandbox, sandbox_tools, receiver):
    coach = sandbox_tools.onboard(schedule={"interval": "daily", "delay_days": 3})
    charge = _earn(client, coach)
    as_coach = {"stripe_account": coach}
    payment = client.v1.balance_transactions.list(options=as_coach).data[0]
    assert payment.available_on == payment.created + 3 * DAY  # held for delay_days
    sandbox_tools.control("clock/advance", seconds=2 * DAY)
    assert client.v1.payouts.list(options=as_coach).data == []
    sandbox_tools.control("clock/advance", seconds=DAY + 1)
    [payout] = client.v1.payouts.list(options=as_coach).data
    assert (payout.automatic, payout.amount, payout.status, payout.method) == (
        True,
        8000,
        "pending",
        "standard",
    )
    balance = client.v1.balance.retrieve(options=as_coach)
    assert balance.available[0].amount == 0 and balance.pending[0].amount == 0
    swept = client.v1.balance_transactions.list(params={"payout": payout.id}, options=as_coach)
    assert {t.type for t in swept.data} == {"payment", "payout"}
    destination_payment = client.v1.transfers.retrieve(charge.transfer).destination_payment
    assert destination_payment in {t.source for t in swept.data}
    sandbox_tools.control("clock/advance", seconds=2 * DAY + 1)
    assert client.v1.payouts.retrieve(payout.id, options=as_coach).status == "paid"
    assert len(client.v1.payouts.list(options=as_coach).data) == 1  # nothing left to pay
    sandbox_tools.flush()
    events = [e for e in receiver.events("/connect") if e["account"] == coach]
    types = [e["type"] for e in events]
    assert types.count("payout.created") == 1 and types.count("payout.paid") == 1
    updated = events[types.index("payout.updated")]
    assert updated["data"]["object"]["status"] == "paid"
    assert updated["data"]["previous_attributes"] == {"status": "pending"}


@pytest.mark.parametrize("interval", ["weekly", "monthly"])
def test_weekly_and_monthly_schedules_wait_for_their_anchor_day(
    client, sandbox, sandbox_tools, interval
):
    payday = _today(sandbox) + dt.timedelta(days=3)
    schedule = {"interval": interval, "delay_days": 1}
    if interval == "weekly":
        schedule["weekly_anchor"] = WEEKDAYS[payday.weekday()]
    else:
        schedule["monthly_anchor"] = payday.day
    coach = sandbox_tools.onboard(schedule=schedule)
    _earn(client, coach)
    as_coach = {"stripe_account": coach}
    sandbox_tools.control("clock/advance", seconds=_seconds_to_day(sandbox, 2))
    assert client.v1.balance.retrieve(options=as_coach).available[0].amount == 8000
    assert client.v1.payouts.list(options=as_coach).data == []
    sandbox_tools.control("clock/advance", seconds=DAY)
    [payout] = client.v1.payouts.list(options=as_coach).data
    assert payout.automatic and payout.amount == 8000


def test_a_manual_schedule_is_never_paid_out_by_the_clock(client, sandbox_tools):
    coach = sandbox_tools.onboard(schedule={"interval": "manual"})
    _earn(client, coach)
    sandbox_tools.control("clock/advance", seconds=40 * DAY)
    as_coach = {"stripe_account": coach}
    assert client.v1.payouts.list(options=as_coach).data == []
    assert client.v1.balance.retrieve(options=as_coach).available[0].amount == 8000


def test_an_instant_payout_goes_to_the_debit_card_with_stripes_fee(client, sandbox_tools, receiver):
    coach = sandbox_tools.onboard(debit_card="4000 0566 5566 5556")
    _earn(client, coach)
    sandbox_tools.control("clock/advance", seconds=2 * DAY + 1)
    as_coach = {"stripe_account": coach}
    card = next(
        e for e in client.v1.accounts.retrieve(coach).external_accounts.data if e.object == "card"
    )
    assert (card.funding, card.last4, card.available_payout_methods) == (
        "debit",
        "5556",
        ["standard", "instant"],
    )
    payout = client.v1.payouts.create(
        params={"amount": 7000, "currency": "usd", "method": "instant"}, options=as_coach
    )
    assert (payout.status, payout.method, payout.destination, payout.type) == (
        "paid",
        "instant",
        card.id,
        "card",
    )
    txn = client.v1.balance_transactions.retrieve(payout.balance_transaction, options=as_coach)
    assert (txn.type, txn.amount, txn.fee, txn.net) == ("payout", -7000, 70, -7070)  # 1%
    assert [(d.type, d.description) for d in txn.fee_details] == [
        ("stripe_fee", "Instant Payout fee")
    ]
    small = client.v1.payouts.create(
        params={"amount": 100, "currency": "usd", "method": "instant"}, options=as_coach
    )
    small_txn = client.v1.balance_transactions.retrieve(small.balance_transaction, options=as_coach)
    assert small_txn.fee == 50  # the minimum fee
    assert client.v1.balance.retrieve(options=as_coach).available[0].amount == 8000 - 7070 - 150
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.payouts.create(
            params={"amount": 780, "currency": "usd", "method": "instant"}, options=as_coach
        )
    assert err.value.code == "balance_insufficient"  # 780 + 50 is more than the 780 left


def test_an_instant_payout_needs_an_eligible_debit_card(client, sandbox_tools):
    coach = sandbox_tools.onboard()
    _earn(client, coach)
    sandbox_tools.control("clock/advance", seconds=2 * DAY + 1)
    as_coach = {"stripe_account": coach}
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.payouts.create(
            params={"amount": 1000, "currency": "usd", "method": "instant"}, options=as_coach
        )
    assert (err.value.code, err.value.param) == ("instant_payouts_unsupported", "method")
    assert client.v1.payouts.list(options=as_coach).data == []
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.accounts.external_accounts.create(coach, params={"external_account": "tok_visa"})
    assert err.value.code == "invalid_card_type"
    card = client.v1.accounts.external_accounts.create(
        coach, params={"external_account": "tok_visa_debit"}
    )
    assert card.object == "card" and "instant" in card.available_payout_methods
    payout = client.v1.payouts.create(
        params={"amount": 1000, "currency": "usd", "method": "instant"}, options=as_coach
    )
    assert payout.status == "paid" and payout.destination == card.id


def test_onboarding_refuses_a_card_that_is_not_a_debit_card(client, http):
    account = client.v1.accounts.create(params={"type": "express", "country": "US"})
    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "http://portal.test/refresh",
            "return_url": "http://portal.test/return",
        }
    )
    base = link.url.split("/connect/")[0]
    personal = http.get(link.url, allow_redirects=False, timeout=10).headers["Location"]
    bank = http.post(
        base + personal,
        data={"first_name": "Grace", "last_name": "Hopper", "dob": "1980-01-02", "tos": "1"},
        allow_redirects=False,
        timeout=10,
    ).headers["Location"]
    page = http.post(
        base + bank,
        data={
            "routing_number": "110000000",
            "account_number": "000123456789",
            "debit_card": "4242424242424242",
        },
        timeout=10,
    )
    assert page.status_code == 400 and "Only a debit card" in page.text
    account = client.v1.accounts.retrieve(account.id)
    assert account.external_accounts.data == [] and not account.payouts_enabled
