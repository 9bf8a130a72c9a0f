"""Through the offline Stripe sandbox: a lost dispute's cost to the coach, by the platform's
setting. Recovered after the coach was paid out, the share is Stripe's transfer reversal, the
coach's balance goes below zero at Stripe and in the portal alike, and the coach's activity says
why; absorbed, nothing is taken; recovered automatically, the `lost` event does it."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from flask import Flask

from portal import ledger
from portal.extensions import db
from portal.models import AuditLog, PayoutSchedule, Role, Transaction, User
from portal.stripe_gateway import checkout as checkout_gateway
from tests.builders import make_slot, make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox, live_portal, live_sandbox, onboard_coach
from tests.stripe_agreement import balance_disagreements

__all__ = ["live_portal", "live_sandbox"]

TWO_DAYS_AND_A_MINUTE = 2 * 24 * 3600 + 60
DISPUTED_CARD = "4000 0000 0000 0259"


def _paid_out_coach_with_a_lost_dispute(
    live_portal: LivePortal, live_sandbox: LiveSandbox
) -> tuple[User, Transaction]:
    """A coach (share 80.00 of 100.00) paid out, then the payment's dispute is lost."""
    coach = make_user(
        Role.COACH,
        password=PASSWORD,
        session_price=Decimal("100.00"),
        platform_fee_percentage=Decimal("20"),
    )
    onboard_coach(live_sandbox, coach)
    coach.coach_profile.payout_schedule = PayoutSchedule.INSTANT
    db.session.commit()
    _pay(live_portal, coach, DISPUTED_CARD, hours=96)
    live_sandbox.advance(TWO_DAYS_AND_A_MINUTE)
    live_sandbox.flush()
    browser = live_portal.browser()
    live_portal.login(browser, coach)
    page = browser.get(live_portal.url + "/coach/earnings/pay-out", timeout=10).text
    fields = dict(re.findall(r'name="([a-z_]+)" type="hidden" value="([^"]*)"', page))
    browser.post(live_portal.url + "/coach/earnings/pay-out", data=fields, timeout=30)
    live_sandbox.flush()
    db.session.expire_all()
    assert ledger.balances_of(coach.id).available == Decimal("0.00")
    [txn] = db.session.scalars(db.select(Transaction)).all()
    live_sandbox.control(f"disputes/{txn.meta['dispute']['id']}/close", outcome="lost")
    live_sandbox.flush()
    db.session.expire_all()
    return coach, db.session.get(Transaction, txn.id)


def _pay(live_portal: LivePortal, coach: User, card: str, *, hours: int) -> None:
    slot = make_slot(coach, hours_from_now=hours)
    mentee = live_portal.browser()
    live_portal.login(mentee, make_user(Role.MENTEE, password=PASSWORD))
    checkout = live_portal.post(mentee, f"/slots/{slot.id}/book", f"/coaches/{coach.id}")
    paid = mentee.post(
        checkout.headers["Location"],
        data={"number": card, "expiry": "12/34", "cvc": "123", "name": "A B"},
        allow_redirects=False,
        timeout=10,
    )
    mentee.get(paid.headers["Location"], timeout=10)


def _admin(live_portal: LivePortal) -> requests.Session:
    browser = live_portal.browser()
    live_portal.login(browser, make_user(Role.ADMIN, password=PASSWORD))
    return browser


def _recover(live_portal: LivePortal, browser: requests.Session, txn_id: int, token: str) -> str:
    """Post the recovery with the token of the page the admin read; the page it leads back to."""
    page = f"{live_portal.url}/admin/disputes/{txn_id}"
    answer = browser.post(
        f"{page}/recover", data={"csrf_token": token}, allow_redirects=False, timeout=30
    )
    assert answer.status_code == 303, answer.text
    return browser.get(page, timeout=10).text


def _reversed(live_sandbox: LiveSandbox, txn: Transaction) -> list[int]:
    transfer = live_sandbox.client().v1.transfers.retrieve(txn.stripe_transfer_id)
    return [r.amount for r in transfer.reversals.data]


def test_an_admin_recovers_a_lost_dispute_from_a_coach_already_paid_out(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach, txn = _paid_out_coach_with_a_lost_dispute(live_portal, live_sandbox)
    admin = _admin(live_portal)
    before = admin.get(f"{live_portal.url}/admin/disputes/{txn.id}", timeout=10).text
    assert "Recover $80.00 from the coach" in before
    assert _reversed(live_sandbox, txn) == []  # shown, not done

    token = live_portal.csrf(admin, f"/admin/disputes/{txn.id}")
    after = _recover(live_portal, admin, txn.id, token)
    again = _recover(live_portal, admin, txn.id, token)  # a second click takes nothing more
    assert "$80.00 of the coach's share was recovered" in after
    assert "recovered already" in again
    assert _reversed(live_sandbox, txn) == [8000]
    live_sandbox.flush()
    db.session.expire_all()
    assert ledger.balances_of(coach.id) == ledger.Balances(
        Decimal("0.00"), Decimal("0.00"), Decimal("-80.00")
    )
    assert balance_disagreements(live_sandbox.client()) == []
    assert ledger.verify() == []
    assert (
        db.session.scalar(
            db.select(db.func.count()).where(AuditLog.action == "dispute.share_recovered")
        )
        == 1
    )

    browser = live_portal.browser()
    live_portal.login(browser, coach)
    activity = browser.get(f"{live_portal.url}/coach/earnings", timeout=10).text
    assert "Taken back: a lost dispute" in activity and "-$80.00" in activity


def test_a_platform_that_absorbs_lost_disputes_takes_nothing_from_the_coach(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(live_portal.app.config, "DISPUTE_LOST_COACH_SHARE", "absorb")
    monkeypatch.setitem(app.config, "DISPUTE_LOST_COACH_SHARE", "absorb")
    coach, txn = _paid_out_coach_with_a_lost_dispute(live_portal, live_sandbox)
    admin = _admin(live_portal)
    page = admin.get(f"{live_portal.url}/admin/disputes/{txn.id}", timeout=10).text
    assert "The platform absorbs lost disputes" in page and "Recover $" not in page
    token = live_portal.csrf(admin, "/admin/reconciliation")  # any page's token serves
    assert "The platform absorbs lost disputes" in _recover(live_portal, admin, txn.id, token)
    assert _reversed(live_sandbox, txn) == []
    assert ledger.balances_of(coach.id).available == Decimal("0.00")


def test_a_platform_that_recovers_automatically_does_so_on_the_lost_event(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(live_portal.app.config, "DISPUTE_LOST_COACH_SHARE", "recover_automatically")
    monkeypatch.setitem(app.config, "DISPUTE_LOST_COACH_SHARE", "recover_automatically")
    coach, txn = _paid_out_coach_with_a_lost_dispute(live_portal, live_sandbox)
    assert _reversed(live_sandbox, txn) == [8000]
    assert txn.meta["dispute"]["recovered"] == "80.00"
    live_sandbox.flush()
    db.session.expire_all()
    assert ledger.balances_of(coach.id).available == Decimal("-80.00")
    assert balance_disagreements(live_sandbox.client()) == []
    assert ledger.verify() == []


def test_the_coach_sees_why_the_balance_is_negative_and_the_next_earning_repays_it_first(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    coach, txn = _paid_out_coach_with_a_lost_dispute(live_portal, live_sandbox)
    admin = _admin(live_portal)
    _recover(live_portal, admin, txn.id, live_portal.csrf(admin, f"/admin/disputes/{txn.id}"))
    live_sandbox.flush()
    browser = live_portal.browser()
    live_portal.login(browser, coach)
    page = html.unescape(browser.get(f"{live_portal.url}/coach/earnings", timeout=10).text)
    negative = re.search(r'data-reason="negative">([^<]*)<', page)
    assert negative, page
    assert re.fullmatch(
        r"-\$80\.00: a \$80\.00 recovery for a lost dispute on \w{3} \d+ \w{3} came after your "
        r"payout of \w{3} \d+ \w{3}\. It will be taken from your next earnings before anything "
        r"is paid out; no payout is made while your balance is below zero\.",
        negative.group(1),
    )
    assert "owed: repaid from your next earnings" in page and "Pay out now" not in page

    # The next booking's 80.00 share repays the 80.00 first: nothing is left to pay out.
    monkeypatch.setattr(
        checkout_gateway, "CHECKOUT_LIFETIME", timedelta(seconds=TWO_DAYS_AND_A_MINUTE + 3600)
    )
    _pay(live_portal, coach, "4242 4242 4242 4242", hours=120)
    live_sandbox.flush()
    page = html.unescape(browser.get(f"{live_portal.url}/coach/earnings", timeout=10).text)
    released = datetime.fromtimestamp(
        live_sandbox.client()
        .v1.balance_transactions.list(
            options={"stripe_account": coach.stripe_connected_account.stripe_account_id}
        )
        .data[0]
        .available_on,
        UTC,
    )
    assert (
        f"$80.00 is still on its way from Stripe and becomes available: $80.00 on "
        f"{released:%a} {released.day} {released:%b}." in page
    )
    live_sandbox.advance(TWO_DAYS_AND_A_MINUTE)
    live_sandbox.flush()
    db.session.expire_all()
    assert ledger.balances_of(coach.id) == ledger.Balances(
        Decimal("80.00"), Decimal("0.00"), Decimal("0.00")
    )
    assert balance_disagreements(live_sandbox.client()) == []
    assert ledger.verify() == []
    page = browser.get(f"{live_portal.url}/coach/earnings", timeout=10).text
    assert 'data-reason="negative"' not in page and "Pay out now" not in page
