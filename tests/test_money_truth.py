"""The portal records what Stripe did (DESIGN rule 7, RELIABILITY 38 and 40), through the
portal's pages and the offline stand-in: refunds as Stripe split them, taken from the available
balance, and a payout Stripe refused paid by the next attempt once the money is there. After
each step every coach's pending and available equal Stripe's for their account."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from flask import Flask

from portal import ledger
from portal.extensions import db
from portal.models import Payout, Role, Transaction, User
from portal.payouts.composition import composition_of
from portal.stripe_gateway import checkout as checkout_gateway
from tests.builders import make_slot, make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox, live_portal, live_sandbox, onboard_coach
from tests.stripe_agreement import balance_disagreements

__all__ = ["live_portal", "live_sandbox"]

TWO_DAYS_AND_A_MINUTE = 2 * 24 * 3600 + 60


def _coach(live_sandbox: LiveSandbox, price: str, fee: str = "20", *, debit_card: str = "") -> User:
    coach = make_user(
        Role.COACH,
        password=PASSWORD,
        session_price=Decimal(price),
        platform_fee_percentage=Decimal(fee),
    )
    onboard_coach(live_sandbox, coach, debit_card=debit_card)
    return coach


def _pay(live_portal: LivePortal, live_sandbox: LiveSandbox, coach: User, hours: int) -> int:
    """A mentee books and pays one of the coach's slots; the paid transaction's id."""
    slot = make_slot(coach, hours_from_now=hours)
    browser = live_portal.browser()
    live_portal.login(browser, make_user(Role.MENTEE, password=PASSWORD))
    checkout = live_portal.post(browser, f"/slots/{slot.id}/book", f"/coaches/{coach.id}")
    paid = browser.post(
        checkout.headers["Location"],
        data={"number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123", "name": "A B"},
        allow_redirects=False,
        timeout=10,
    )
    browser.get(paid.headers["Location"], timeout=10)
    live_sandbox.flush()
    db.session.expire_all()
    return db.session.scalars(
        db.select(Transaction.id)
        .where(Transaction.stripe_payment_intent_id.is_not(None))
        .order_by(Transaction.id.desc())
    ).first()


def _admin(live_portal: LivePortal) -> requests.Session:
    browser = live_portal.browser()
    live_portal.login(browser, make_user(Role.ADMIN, password=PASSWORD))
    return browser


def _refund(live_portal: LivePortal, browser: requests.Session, txn_id: int, amount: str) -> None:
    page = f"/admin/transactions/{txn_id}/refund"
    review = live_portal.post(browser, page, page, amount=amount, reason="Agreed with both")
    assert review.status_code == 200, review.text
    fields = dict(
        re.findall(
            r'name="(amount|reason|token|csrf_token)" type="hidden" value="([^"]*)"', review.text
        )
    )
    confirm = f"{live_portal.url}/admin/transactions/{txn_id}/refund/confirm"
    assert browser.post(confirm, data=fields, allow_redirects=False, timeout=30).status_code == 303


def test_a_refund_records_the_transfer_reversal_and_fee_refund_stripe_made(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach = _coach(live_sandbox, "95.00", "17.25")  # fee 16.39, share 78.61
    txn_id = _pay(live_portal, live_sandbox, coach, 72)
    _refund(live_portal, _admin(live_portal), txn_id, "47.50")
    live_sandbox.flush()

    stripe = live_sandbox.client()
    assert balance_disagreements(stripe) == []
    txn = db.session.get(Transaction, txn_id)
    [refund] = txn.refunds
    transfer = stripe.v1.transfers.retrieve(txn.stripe_transfer_id)
    fee = stripe.v1.application_fees.list(params={"charge": _charge_of(stripe, txn)}).data[0]
    # The transfer was the whole charge and the fee was collected from the coach's account, so
    # the coach gives back the reversal less the fee refunded to that account: 47.50 - 8.20.
    assert refund.transfer_reversed == Decimal(transfer.amount_reversed) / 100 == Decimal("47.50")
    assert refund.platform_fee_refunded == Decimal(fee.amount_refunded) / 100 == Decimal("8.20")
    assert refund.coach_share_reversed == Decimal("39.30")
    assert balance_disagreements(stripe) == []
    assert ledger.verify() == []


def test_refunding_a_released_payment_takes_it_from_available_and_pending_stays(
    app: Flask,
    live_sandbox: LiveSandbox,
    live_portal: LivePortal,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    coach = _coach(live_sandbox, "150.00")  # share 120.00
    first = _pay(live_portal, live_sandbox, coach, 96)
    live_sandbox.advance(TWO_DAYS_AND_A_MINUTE)  # the first payment becomes available
    live_sandbox.flush()
    # Stripe's clock is two days ahead of the portal's: its Checkout must still expire in time.
    monkeypatch.setattr(
        checkout_gateway, "CHECKOUT_LIFETIME", timedelta(seconds=TWO_DAYS_AND_A_MINUTE + 3600)
    )
    _pay(live_portal, live_sandbox, coach, 120)  # the second is pending
    stripe = live_sandbox.client()
    assert balance_disagreements(stripe) == []

    _refund(live_portal, _admin(live_portal), first, "150.00")
    live_sandbox.flush()
    assert balance_disagreements(stripe) == []  # pending 120.00, available 0.00 at both
    assert ledger.verify() == []


def test_a_payout_stripe_refused_is_paid_by_the_next_attempt_once_the_money_is_there(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach = _coach(live_sandbox, "100.00")  # share 80.00
    coach.coach_profile.payout_schedule = coach.coach_profile.payout_schedule.INSTANT
    db.session.commit()
    _pay(live_portal, live_sandbox, coach, 72)
    # The portal believes the money is available a moment before Stripe makes it so.
    [held] = ledger.held_payments(coach.id)
    ledger.record_release(coach.id, held)
    db.session.commit()
    browser = live_portal.browser()
    live_portal.login(browser, coach)
    refused = _pay_out_now(live_portal, browser)
    assert "insufficient" in refused.lower()
    assert db.session.scalars(db.select(Payout)).all() == []

    live_sandbox.advance(TWO_DAYS_AND_A_MINUTE)  # Stripe's funds arrive
    live_sandbox.flush()
    _pay_out_now(live_portal, browser)
    db.session.expire_all()
    [payout] = db.session.scalars(db.select(Payout)).all()
    assert payout.amount == Decimal("80.00") and payout.stripe_payout_id
    assert balance_disagreements(live_sandbox.client()) == []


def _pay_out_now(live_portal: LivePortal, browser: requests.Session) -> str:
    """Open "Pay out now", confirm, and return the page the coach lands on."""
    page = browser.get(live_portal.url + "/coach/earnings/pay-out", timeout=10).text
    fields = dict(re.findall(r'name="([a-z_]+)" type="hidden" value="([^"]*)"', page))
    done = browser.post(
        live_portal.url + "/coach/earnings/pay-out", data=fields, allow_redirects=True, timeout=30
    )
    return done.text


def _charge_of(stripe, txn: Transaction) -> str:  # type: ignore[no-untyped-def]
    return stripe.v1.payment_intents.retrieve(txn.stripe_payment_intent_id).latest_charge


def test_a_refund_stripe_refuses_is_recorded_as_failed_not_left_pending(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    # The dispute's webhook has not reached the portal yet, so the portal asks Stripe to refund
    # a disputed charge; Stripe refuses (charge_disputed). Found by the random-operations test.
    coach = _coach(live_sandbox, "37.77")
    slot = make_slot(coach, hours_from_now=72)
    mentee = make_user(Role.MENTEE, password=PASSWORD)
    browser = live_portal.browser()
    live_portal.login(browser, mentee)
    checkout = live_portal.post(browser, f"/slots/{slot.id}/book", f"/coaches/{coach.id}")
    live_sandbox.control("webhooks/pause")
    paid = browser.post(
        checkout.headers["Location"],
        data={"number": "4000 0000 0000 0259", "expiry": "12/34", "cvc": "123", "name": "A B"},
        allow_redirects=False,
        timeout=10,
    )
    browser.get(paid.headers["Location"], timeout=10)  # the return page records the payment
    db.session.expire_all()
    [txn] = db.session.scalars(db.select(Transaction)).all()
    assert not txn.is_disputed
    page = f"/bookings/{txn.session_id}"
    cancelled = live_portal.post(browser, f"{page}/cancel", f"{page}/cancel")  # its confirm page
    assert cancelled.status_code == 303
    assert "Stripe refused the refund" in browser.get(live_portal.url + page, timeout=10).text
    db.session.expire_all()
    [refund] = db.session.get(Transaction, txn.id).refunds
    assert refund.status.value == "failed" and refund.stripe_refund_id is None
    live_sandbox.control("webhooks/resume")
    live_sandbox.flush()
    db.session.expire_all()
    assert db.session.get(Transaction, txn.id).is_disputed
    assert balance_disagreements(live_sandbox.client()) == []
    assert ledger.verify() == []


def test_a_payment_whose_events_come_after_its_release_is_available_as_at_stripe(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    # Found by the random-operations test: the payment's webhooks were held, Stripe released
    # the funds, and `balance.available` reached the portal before the payment's own events.
    coach = _coach(live_sandbox, "95.00", "17.25")
    slot = make_slot(coach, hours_from_now=72)
    browser = live_portal.browser()
    live_portal.login(browser, make_user(Role.MENTEE, password=PASSWORD))
    checkout = live_portal.post(browser, f"/slots/{slot.id}/book", f"/coaches/{coach.id}")
    live_sandbox.control("webhooks/pause")
    browser.post(  # paid, and the mentee never comes back to the return page
        checkout.headers["Location"],
        data={"number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123", "name": "A B"},
        allow_redirects=False,
        timeout=10,
    )
    live_sandbox.advance(TWO_DAYS_AND_A_MINUTE)  # Stripe releases the funds
    held = requests.get(live_sandbox.url + "/_sandbox/deliveries", timeout=10).json()["held"]
    stripe = live_sandbox.client()
    connect_events = stripe.v1.events.list(
        params={"limit": 100}, options={"stripe_account": coach.stripe_connect_account_id}
    ).data
    released = [e.id for e in connect_events if e.type == "balance.available" and e.id in held]
    assert released
    live_sandbox.control("webhooks/deliver", ids=released + [e for e in held if e not in released])
    live_sandbox.control("webhooks/resume")
    live_sandbox.flush()
    db.session.expire_all()
    assert balance_disagreements(live_sandbox.client()) == []
    assert ledger.balances_of(coach.id).available == Decimal("78.61")
    assert ledger.verify() == []


def test_a_payout_lists_what_it_paid_for_equal_to_stripes_balance_transactions(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach = _coach(live_sandbox, "100.00", debit_card="4000056655665556")  # share 80.00
    first = _pay(live_portal, live_sandbox, coach, 72)
    _pay(live_portal, live_sandbox, coach, 96)
    live_sandbox.advance(TWO_DAYS_AND_A_MINUTE)
    live_sandbox.flush()
    _refund(live_portal, _admin(live_portal), first, "30.00")  # the coach gives back 24.00
    live_sandbox.flush()
    browser = live_portal.browser()
    live_portal.login(browser, coach)
    page = browser.get(live_portal.url + "/coach/earnings/pay-out/instant", timeout=10).text
    fields = dict(re.findall(r'name="([a-z_]+)" type="hidden" value="([^"]*)"', page))
    browser.post(live_portal.url + "/coach/earnings/pay-out/instant", data=fields, timeout=30)
    live_sandbox.flush()
    db.session.expire_all()
    [payout] = db.session.scalars(db.select(Payout)).all()

    stripe = live_sandbox.client()
    account = {"stripe_account": coach.stripe_connect_account_id}
    txns = stripe.v1.balance_transactions.list(params={"limit": 100}, options=account).data

    def stripe_net(*types: str) -> list[Decimal]:
        return sorted(Decimal(t.net) / 100 for t in txns if t.type in types)

    [paid_out] = [t for t in txns if t.type == "payout"]
    found = composition_of(coach.id, payout.id)
    lines = {what: sorted(x.amount for x in found.lines if x.what == what) for what in
             ("Payment", "Refund", "Stripe's instant payout fee")}  # fmt: skip
    assert found.source == "ledger"
    assert lines["Payment"] == stripe_net("payment") == [Decimal("80.00")] * 2
    assert sum(lines["Refund"]) == sum(stripe_net("payment_refund", "application_fee_refund"))
    assert lines["Stripe's instant payout fee"] == [-Decimal(paid_out.fee) / 100]
    assert found.total == payout.amount == -Decimal(paid_out.amount) / 100 == Decimal("134.65")

    shown = browser.get(f"{live_portal.url}/coach/earnings/payouts/{payout.id}", timeout=10).text
    assert "this is what our ledger paid out with it" in shown
    csv = browser.get(f"{live_portal.url}/coach/earnings/payouts/{payout.id}.csv", timeout=10)
    assert csv.text.splitlines()[-1].startswith(",total,134.65,USD,")
    assert balance_disagreements(stripe) == [] and ledger.verify() == []


def test_a_payout_stripe_made_on_its_schedule_lists_stripes_balance_transactions(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach = _coach(live_sandbox, "100.00")  # share 80.00
    account = {"stripe_account": coach.stripe_connect_account_id}
    stripe = live_sandbox.client()
    stripe.v1.accounts.update(  # set in Stripe's dashboard: Stripe pays out on its own
        coach.stripe_connect_account_id,
        params={"settings": {"payouts": {"schedule": {"interval": "daily", "delay_days": 2}}}},
    )
    first = _pay(live_portal, live_sandbox, coach, 72)
    _pay(live_portal, live_sandbox, coach, 96)
    _refund(live_portal, _admin(live_portal), first, "30.00")
    live_sandbox.advance(TWO_DAYS_AND_A_MINUTE + 86400)
    live_sandbox.flush()
    db.session.expire_all()
    [payout] = db.session.scalars(db.select(Payout)).all()

    app.config.update(STRIPE_API_BASE=live_sandbox.url, STRIPE_SECRET_KEY="sk_test_live")
    app.extensions.pop("stripe_client", None)  # the test's own app reads the same stand-in
    found = composition_of(coach.id, payout.id)
    listed = stripe.v1.balance_transactions.list(
        params={"payout": payout.stripe_payout_id, "limit": 100}, options=account
    ).data
    assert found.source == "stripe"
    assert sorted(line.amount for line in found.lines) == sorted(
        Decimal(t.net) / 100 for t in listed if t.type != "payout"
    )
    assert found.total == payout.amount == Decimal("136.00")
    assert balance_disagreements(stripe) == [] and ledger.verify() == []


def test_a_release_event_delayed_past_a_refund_moves_only_what_stripe_released(
    app: Flask,
    live_sandbox: LiveSandbox,
    live_portal: LivePortal,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found by the 10,000-operation soak: `balance.available` carries a snapshot of the
    # available balance; a transfer reversal Stripe made after it, recorded by the portal before
    # the delayed event, must not be taken for funds released.
    coach = _coach(live_sandbox, "150.00")  # share 120.00
    first = _pay(live_portal, live_sandbox, coach, 96)
    live_sandbox.advance(24 * 3600)
    # Stripe's clock is a day ahead of the portal's: its Checkout must still expire in time.
    monkeypatch.setattr(checkout_gateway, "CHECKOUT_LIFETIME", timedelta(hours=25))
    _pay(live_portal, live_sandbox, coach, 120)  # still pending when the first is released
    live_sandbox.control("webhooks/pause")
    live_sandbox.advance(24 * 3600 + 60)  # Stripe releases the first: its event is held
    _refund(live_portal, _admin(live_portal), first, "50.00")  # reversal 40.00 from available
    live_sandbox.control("webhooks/resume")
    live_sandbox.flush()
    db.session.expire_all()
    assert balance_disagreements(live_sandbox.client()) == []
    assert ledger.verify() == []
