"""RELIABILITY 6: `flask stripe replay-missed` applies, once, the events that never arrived."""

from __future__ import annotations

import time
from decimal import Decimal

import sqlalchemy as sa

from portal import ledger
from portal.extensions import db
from portal.models import EventStatus, Role, StripeEvent
from portal.stripe_gateway import StripeUnavailable
from portal.stripe_gateway import event_log as gateway_events
from portal.webhooks.runner import apply_event
from tests.builders import make_connected_account, make_payment, make_user
from tests.webhooks import payloads

D = Decimal


def test_replay_applies_only_the_events_the_portal_has_not_processed(
    app, mentee, monkeypatch, stripe_fake
):
    coach = make_user(Role.COACH)
    account = make_connected_account(coach).stripe_account_id
    payment = make_payment(coach, mentee, "100.00")
    ledger.record_payment(payment)
    db.session.commit()
    stripe_fake.release(account, payment)
    now = int(time.time())
    seen = payloads.event(
        "payout.created", payloads.payout("po_seen", 1000), account=account, created=now - 30
    )
    missed_balance = payloads.event(
        "balance.available", payloads.balance(8000), created=now - 20
    )  # as listed from the connected account: Stripe adds `account` on delivery only
    missed_payout = payloads.event(
        "payout.created", payloads.payout("po_missed", 2000), created=now - 10
    )
    platform_event = payloads.event("customer.created", {"id": "cus_1"}, created=now - 5)
    assert apply_event(seen).status == "processed"
    listed: dict[str | None, list[dict]] = {
        None: [platform_event],
        account: [missed_payout, missed_balance, seen],  # newest first, as Stripe lists them
    }
    asked: list[tuple[int, str | None]] = []

    def list_events(created_gte, *, account=None):
        asked.append((created_gte, account))
        return iter(listed[account])

    monkeypatch.setattr(gateway_events, "list_events", list_events)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["stripe", "replay-missed", "--since-hours", "24"])
    assert result.exit_code == 0, result.output
    assert missed_balance["id"] in result.output and missed_payout["id"] in result.output
    assert seen["id"] not in result.output
    assert "Replayed 3 missed event(s) of 4 listed; 0 failed." in result.output
    assert {a for _, a in asked} == {None, account}
    assert all(abs(since - (now - 24 * 3600)) < 60 for since, _ in asked)
    db.session.expire_all()
    assert ledger.balances_of(coach.id) == ledger.Balances(D("80.00"), D("0.00"), D("50.00"))
    statuses = db.session.scalars(sa.select(StripeEvent.status)).all()
    assert sorted(statuses) == [EventStatus.IGNORED] + [EventStatus.PROCESSED] * 3

    again = runner.invoke(args=["stripe", "replay-missed"])
    assert "Replayed 0 missed event(s) of 4 listed; 0 failed." in again.output
    db.session.expire_all()
    assert ledger.balances_of(coach.id).available == D("50.00")
    assert ledger.verify() == []


def test_replay_says_so_when_stripe_cannot_be_reached(app, monkeypatch):
    def unreachable(created_gte, *, account=None):
        raise StripeUnavailable("We could not reach our payment provider.")
        yield  # pragma: no cover

    monkeypatch.setattr(gateway_events, "list_events", unreachable)
    result = app.test_cli_runner().invoke(args=["stripe", "replay-missed"])
    assert result.exit_code == 1
    assert "could not reach our payment provider" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StripeEvent)) == 0
