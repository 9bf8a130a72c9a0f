"""Through the offline Stripe sandbox: a lost dispute's cost to the coach, by the platform's
setting. Recovered after the coach was paid out, the share is Stripe's transfer reversal, the
coach's balance goes below zero at Stripe and in the portal alike, and the coach's activity says
why; absorbed, nothing is taken; recovered automatically, the `lost` event does it."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import requests
from flask import Flask

from portal import ledger
from portal.extensions import db
from portal.models import AuditLog, PayoutSchedule, Role, Transaction, User
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
    slot = make_slot(coach, hours_from_now=96)
    mentee = live_portal.browser()
    live_portal.login(mentee, make_user(Role.MENTEE, password=PASSWORD))
    checkout = live_portal.post(mentee, f"/slots/{slot.id}/book", f"/coaches/{coach.id}")
    paid = mentee.post(
        checkout.headers["Location"],
        data={"number": DISPUTED_CARD, "expiry": "12/34", "cvc": "123", "name": "A B"},
        allow_redirects=False,
        timeout=10,
    )
    mentee.get(paid.headers["Location"], timeout=10)
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
    txn = db.session.scalars(db.select(Transaction)).one()
    live_sandbox.control(f"disputes/{txn.meta['dispute']['id']}/close", outcome="lost")
    live_sandbox.flush()
    db.session.expire_all()
    return coach, db.session.get(Transaction, txn.id)


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
