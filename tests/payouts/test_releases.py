"""Funds released payment by payment, as the offline Stripe reports each payment available: the
gateway's reading of the connected account's balance transactions, and `balance.available`
moving exactly the payments Stripe released, whatever the event's snapshot says."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal import ledger
from portal.extensions import db
from portal.models import Transaction, User
from portal.stripe_gateway import connect as connect_gateway
from tests.live import onboard_coach
from tests.payouts.conftest import Live, balances, earn
from tests.stripe_agreement import balance_disagreements

TWO_DAYS = 2 * 86400 + 1


def _created(live: Live, payment_intent: str) -> int:
    return live.stripe.v1.payment_intents.retrieve(payment_intent).created


def test_stripe_names_the_transfers_of_the_payments_it_has_released(
    live: Live, coach: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = onboard_coach(live.sandbox, coach).stripe_account_id
    first = live.destination_charge(account, 10000, 2000)
    second = live.destination_charge(account, 5000, 1000)
    assert connect_gateway.released_transfers(account, "USD", 0) == set()  # both pending
    live.advance(TWO_DAYS)
    third = live.destination_charge(account, 2500, 500)  # made after the release: pending

    assert connect_gateway.released_transfers(account, "USD", 0) == {first[1], second[1]}
    assert connect_gateway.released_transfers(account, "EUR", 0) == set()
    # only payments made at or after `since` are read: here the third, still pending
    assert connect_gateway.released_transfers(account, "USD", _created(live, third[0])) == set()
    monkeypatch.setattr(connect_gateway, "PAGE_SIZE", 1)  # every page is read
    assert connect_gateway.released_transfers(account, "USD", 0) == {first[1], second[1]}

    assert connect_gateway.transfer_of_payment(first[0]) == first[1]


def test_a_payment_recorded_without_its_transfer_is_released_when_stripe_releases_it(
    live: Live, coach: User
) -> None:
    account = onboard_coach(live.sandbox, coach).stripe_account_id
    intent, transfer = live.destination_charge(account, 10000, 2000)
    # recorded from the Checkout's own event, which names the PaymentIntent only
    payment = earn(coach, "100.00", paid=(intent, None))
    earn(coach, "50.00", paid=live.destination_charge(account, 5000, 1000))
    live.advance(TWO_DAYS)  # balance.available reaches the portal

    assert balances(coach) == ledger.Balances(Decimal("120.00"), Decimal("0.00"), Decimal("120.00"))
    db.session.expire_all()
    assert db.session.get(Transaction, payment.id).stripe_transfer_id == transfer
    assert balance_disagreements(live.stripe) == []
    assert ledger.verify() == [] and live.deliveries_failed() == []
