"""Connect onboarding, balances becoming available, payouts paid and failing, login links."""

from __future__ import annotations

import pytest
import stripe


def test_new_account_owes_requirements(client):
    account = client.v1.accounts.create(params={"type": "express", "country": "US"})
    assert not account.charges_enabled and not account.payouts_enabled
    assert "external_account" in account.requirements.currently_due
    assert "individual.first_name" in account.requirements.currently_due


def test_onboarding_completed(client, sandbox_tools, receiver):
    account = client.v1.accounts.retrieve(sandbox_tools.onboard())
    assert account.details_submitted and account.charges_enabled and account.payouts_enabled
    assert account.requirements.currently_due == []
    assert account.external_accounts.data[0].last4 == "6789"
    sandbox_tools.flush()
    updates = [e for e in receiver.events("/connect") if e["type"] == "account.updated"]
    assert updates and all(e["account"] == account.id for e in updates)
    assert updates[-1]["data"]["previous_attributes"]["charges_enabled"] is False


def test_onboarding_left_half_way(client, sandbox_tools):
    account = client.v1.accounts.retrieve(sandbox_tools.onboard(finish=False))
    assert not account.details_submitted and not account.charges_enabled
    assert account.requirements.currently_due == ["external_account"]


def test_stripe_asking_an_onboarded_account_for_more(client, sandbox_tools, receiver):
    account_id = sandbox_tools.onboard()
    sandbox_tools.control(
        f"accounts/{account_id}/require", currently_due=["individual.id_number"], deadline_in=600
    )
    account = client.v1.accounts.retrieve(account_id)
    assert account.requirements.currently_due == ["individual.id_number"]
    assert account.requirements.current_deadline is not None and account.payouts_enabled
    sandbox_tools.control(f"accounts/{account_id}/require", currently_due=["individual.id_number"])
    account = client.v1.accounts.retrieve(account_id)
    assert account.requirements.past_due == ["individual.id_number"]
    assert not account.payouts_enabled
    sandbox_tools.flush()
    updates = [e for e in receiver.events("/connect") if e["type"] == "account.updated"]
    assert updates[-1]["data"]["object"]["requirements"]["currently_due"] == [
        "individual.id_number"
    ]


def test_used_or_expired_link_goes_to_refresh_url(client, http, sandbox_tools):
    account = client.v1.accounts.create(params={"type": "express"})
    params = {
        "account": account.id,
        "type": "account_onboarding",
        "refresh_url": "http://portal.test/refresh",
        "return_url": "http://portal.test/r",
    }
    link = client.v1.account_links.create(params=params)
    assert http.get(link.url, allow_redirects=False, timeout=5).status_code == 303
    reused = http.get(link.url, allow_redirects=False, timeout=5)
    assert reused.headers["Location"] == "http://portal.test/refresh"
    stale = client.v1.account_links.create(params=params)
    sandbox_tools.control("clock/advance", seconds=301)
    expired = http.get(stale.url, allow_redirects=False, timeout=5)
    assert expired.headers["Location"] == "http://portal.test/refresh"


def test_payout_schedule_update(client):
    account = client.v1.accounts.create(params={"type": "express"})
    updated = client.v1.accounts.update(
        account.id,
        params={
            "settings": {"payouts": {"schedule": {"interval": "weekly", "weekly_anchor": "friday"}}}
        },
    )
    assert updated.settings.payouts.schedule.interval == "weekly"
    assert updated.settings.payouts.schedule.weekly_anchor == "friday"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.accounts.update(
            account.id, params={"settings": {"payouts": {"schedule": {"interval": "monthly"}}}}
        )


def _earn(client, coach, amount=10000, fee=2000):
    customer = client.v1.customers.create(params={"email": "m@example.com"})
    client.v1.payment_intents.create(
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


def test_funds_become_available_then_pay_out(client, sandbox_tools, receiver):
    coach = sandbox_tools.onboard()
    _earn(client, coach)
    as_coach = {"stripe_account": coach}
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.payouts.create(params={"amount": 5000, "currency": "usd"}, options=as_coach)
    assert err.value.code == "balance_insufficient"
    sandbox_tools.control("clock/advance", seconds=2 * 86400 + 1)
    assert client.v1.balance.retrieve(options=as_coach).available[0].amount == 8000
    payout = client.v1.payouts.create(
        params={"amount": 5000, "currency": "usd", "metadata": {"request": "1"}}, options=as_coach
    )
    assert payout.status == "pending"
    assert client.v1.balance.retrieve(options=as_coach).available[0].amount == 3000
    sandbox_tools.control("clock/advance", seconds=2 * 86400 + 1)
    assert client.v1.payouts.retrieve(payout.id, options=as_coach).status == "paid"
    sandbox_tools.flush()
    connect = [e for e in receiver.events("/connect") if e["account"] == coach]
    types = [e["type"] for e in connect]
    assert "balance.available" in types
    assert types.count("payout.created") == 1 and types.count("payout.paid") == 1
    balance_event = next(e for e in connect if e["type"] == "balance.available")
    assert balance_event["data"]["object"]["object"] == "balance"


def test_failing_bank_account_fails_payouts_and_returns_money(client, sandbox_tools, receiver):
    coach = sandbox_tools.onboard(account_number="000111111116")
    _earn(client, coach)
    sandbox_tools.control("clock/advance", seconds=2 * 86400 + 1)
    as_coach = {"stripe_account": coach}
    payout = client.v1.payouts.create(params={"amount": 8000, "currency": "usd"}, options=as_coach)
    sandbox_tools.control("clock/advance", seconds=2 * 86400 + 1)
    failed = client.v1.payouts.retrieve(payout.id, options=as_coach)
    assert failed.status == "failed" and failed.failure_code
    assert client.v1.balance.retrieve(options=as_coach).available[0].amount == 8000
    sandbox_tools.flush()
    assert "payout.failed" in receiver.types("/connect")


def test_fail_next_and_cancel(client, sandbox_tools):
    coach = sandbox_tools.onboard()
    _earn(client, coach)
    sandbox_tools.control("clock/advance", seconds=2 * 86400 + 1)
    as_coach = {"stripe_account": coach}
    sandbox_tools.control("payouts/fail_next", account=coach)
    doomed = client.v1.payouts.create(params={"amount": 1000, "currency": "usd"}, options=as_coach)
    canceled = client.v1.payouts.create(
        params={"amount": 1000, "currency": "usd"}, options=as_coach
    )
    assert client.v1.payouts.cancel(canceled.id, options=as_coach).status == "canceled"
    sandbox_tools.control("clock/advance", seconds=2 * 86400 + 1)
    assert client.v1.payouts.retrieve(doomed.id, options=as_coach).status == "failed"
    assert client.v1.balance.retrieve(options=as_coach).available[0].amount == 8000
    listed = client.v1.payouts.list(options=as_coach)
    assert {p.id for p in listed.data} == {doomed.id, canceled.id}


def test_login_link_shows_balance_and_payouts(client, http, sandbox_tools):
    coach = sandbox_tools.onboard()
    _earn(client, coach)
    link = client.v1.accounts.login_links.create(coach)
    page = http.get(link.url, timeout=5)
    assert page.status_code == 200 and "$80.00" in page.text and "Payouts" in page.text


def test_unknown_connected_account_is_refused(client):
    with pytest.raises(stripe.PermissionError):
        client.v1.balance.retrieve(options={"stripe_account": "acct_nope"})
