"""Who hears of a dispute by email, through the offline Stripe: the coach of the disputed
session (what it may cost them, by the platform's setting) and every admin (with the evidence
deadline), once each however often Stripe redelivers; and the coach, once, when their share of
a lost dispute is recovered, by an admin or automatically."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import Booking, Role, StripeEvent, Transaction
from portal.outbox import when
from tests.admin.test_dispute_recovery_live import (
    DISPUTED_CARD,
    _admin,
    _paid_out_coach_with_a_lost_dispute,
    _pay,
    _recover,
)
from tests.builders import make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox, live_portal, live_sandbox, onboard_coach
from tests.mailbox import assert_nothing_secret, links_to, messages, text_of, with_subject

__all__ = ["live_portal", "live_sandbox"]

RECOVERED = "$80.00 taken back from your balance: a lost dispute"


def _redeliver(live_sandbox: LiveSandbox, event_type: str) -> None:
    db.session.expire_all()
    for event_id in db.session.scalars(
        sa.select(StripeEvent.stripe_event_id).where(StripeEvent.type == event_type)
    ):
        live_sandbox.control(f"events/{event_id}/redeliver")
    live_sandbox.flush()
    db.session.expire_all()


def test_a_new_dispute_is_mailed_to_the_coach_and_every_admin_once(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    admins = [make_user(Role.ADMIN, password=PASSWORD) for _ in range(2)]
    coach = make_user(Role.COACH, password=PASSWORD)
    onboard_coach(live_sandbox, coach)
    _pay(live_portal, coach, DISPUTED_CARD, hours=96)
    live_sandbox.flush()
    _redeliver(live_sandbox, "charge.dispute.created")
    _redeliver(live_sandbox, "charge.dispute.funds_withdrawn")

    [txn] = db.session.scalars(sa.select(Transaction)).all()
    [booking] = db.session.scalars(sa.select(Booking)).all()
    flag = txn.meta["dispute"]
    deadline = when(datetime.fromtimestamp(flag["due_by"], UTC))

    [to_coach] = with_subject(app, "A payment for your session was disputed: $100.00")
    assert to_coach["To"] == coach.email
    text = text_of(to_coach)
    assert f"disputes the payment of $100.00 for your session of {when(booking.starts_at)}" in text
    assert "may take your share of $80.00 back from your balance" in text  # DISPUTE_LOST_...
    assert links_to(to_coach, f"/bookings/{booking.id}")

    told = with_subject(app, f"Dispute opened: $100.00, evidence due {deadline}")
    assert sorted(m["To"] for m in told) == sorted(a.email for a in admins)
    assert f"Evidence due by: {deadline}" in text_of(told[0])
    assert links_to(told[0], f"/admin/disputes/{txn.id}")
    assert len(messages(app)) == 2 + 1 + 2  # the booking's two, the coach's, the admins'
    for message in messages(app):
        assert_nothing_secret(message)


def test_an_admin_recovering_a_lost_dispute_tells_the_coach_once(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach, txn = _paid_out_coach_with_a_lost_dispute(live_portal, live_sandbox)
    assert with_subject(app, RECOVERED) == []  # lost, but not recovered yet
    admin = _admin(live_portal)
    token = live_portal.csrf(admin, f"/admin/disputes/{txn.id}")
    _recover(live_portal, admin, txn.id, token)
    _recover(live_portal, admin, txn.id, token)  # a second click takes and tells nothing
    [recovered] = with_subject(app, RECOVERED)
    assert recovered["To"] == coach.email
    assert "your share of it, $80.00, has been taken back" in text_of(recovered)
    assert "your next earnings repay it first" in text_of(recovered)
    assert links_to(recovered, "/coach/earnings")
    assert_nothing_secret(recovered)


def test_a_recovery_on_the_lost_event_tells_the_coach_once_however_often_it_comes(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(live_portal.app.config, "DISPUTE_LOST_COACH_SHARE", "recover_automatically")
    monkeypatch.setitem(app.config, "DISPUTE_LOST_COACH_SHARE", "recover_automatically")
    coach, _ = _paid_out_coach_with_a_lost_dispute(live_portal, live_sandbox)
    _redeliver(live_sandbox, "charge.dispute.closed")
    [opened] = with_subject(app, "A payment for your session was disputed")
    assert "your share of $80.00 is taken back from your balance" in text_of(opened)
    [recovered] = with_subject(app, RECOVERED)
    assert recovered["To"] == coach.email
