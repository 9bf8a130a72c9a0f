"""What a member hears of their membership's payments, through the sandbox: a renewal paid
(never the first payment, made on Checkout's page), a renewal that failed with where to fix the
card, each once however often Stripe redelivers, and nothing for work that rolled back."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import EventStatus, Invoice, StripeEvent
from portal.stripe_gateway import StripeUnavailable
from portal.stripe_gateway import billing as billing_gateway
from tests.billing.conftest import (
    DECLINES_WHEN_CHARGED,
    cards_of,
    save_card,
    signed_in_mentee,
    subscribe,
)
from tests.live import LivePortal, LiveSandbox
from tests.mailbox import (
    assert_nothing_secret,
    html_of,
    links_to,
    messages,
    text_of,
    with_subject,
)

pytestmark = pytest.mark.usefixtures("settled")

DAY = 86400
FAILED_SUBJECT = "Your membership payment of $19.00 failed: please update your card"


def _event_ids(event_type: str) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(StripeEvent.stripe_event_id)
            .where(StripeEvent.type == event_type)
            .order_by(StripeEvent.id)
        )
    )


def _member_with_a_card_that_declines(live_portal: LivePortal, live_sandbox: LiveSandbox):  # type: ignore[no-untyped-def]
    """A member whose default card saves fine and declines when the renewal charges it."""
    mentee, browser = signed_in_mentee(live_portal)
    subscribe(live_portal, browser)
    save_card(live_portal, browser, DECLINES_WHEN_CHARGED)
    live_sandbox.flush()
    bad = {card.last4: card for card in cards_of(mentee)}["0341"]
    live_portal.post(browser, f"/billing/cards/{bad.id}/default", "/billing/cards")
    live_sandbox.flush()
    return mentee, browser


def test_a_renewal_is_mailed_once_and_the_first_payment_is_not(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    subscribe(live_portal, browser)
    live_sandbox.flush()
    assert with_subject(app, "Membership renewed") == []  # Checkout told them of the first

    live_sandbox.advance(32 * DAY)
    live_sandbox.flush()
    [paid_event] = _event_ids("invoice.paid")[1:]
    live_sandbox.control(f"events/{paid_event}/redeliver")
    live_sandbox.flush()
    [renewed] = with_subject(app, "Membership renewed: $19.00 paid")
    assert renewed["To"] == mentee.email
    renewal = db.session.scalars(
        sa.select(Invoice).where(Invoice.user_id == mentee.id).order_by(Invoice.id.desc())
    ).first()
    assert renewal is not None
    assert links_to(renewed, f"/billing/invoices/{renewal.id}")
    assert links_to(renewed, "/billing/membership")
    assert "run until" in text_of(renewed) and "$19.00" in html_of(renewed)
    assert_nothing_secret(renewed)


def test_a_failed_renewal_is_mailed_with_a_link_to_update_the_card_even_when_opted_out(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = _member_with_a_card_that_declines(live_portal, live_sandbox)
    live_portal.post(
        browser, "/account/profile", "/account/profile", name=mentee.name, submit="Save"
    )
    db.session.refresh(mentee)
    assert mentee.optional_mail is False  # about money: sent all the same

    live_sandbox.advance(32 * DAY)
    live_sandbox.flush()
    [failed_event] = _event_ids("invoice.payment_failed")
    live_sandbox.control(f"events/{failed_event}/redeliver")
    live_sandbox.flush()
    [failed] = with_subject(app, FAILED_SUBJECT)
    assert failed["To"] == mentee.email
    assert links_to(failed, "/billing/cards")
    assert "Stripe tries again on" in text_of(failed)
    assert 'href="http' in html_of(failed) and "/billing/cards" in html_of(failed)
    assert with_subject(app, "Membership renewed") == []
    for message in messages(app):
        assert_nothing_secret(message)  # the declining card's number appears nowhere


def test_a_failed_renewal_whose_event_rolled_back_is_mailed_only_when_it_is_applied(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, monkeypatch: pytest.MonkeyPatch
) -> None:
    _member_with_a_card_that_declines(live_portal, live_sandbox)

    def unreachable(subscription_id: str) -> dict:
        raise StripeUnavailable("Stripe did not answer.")

    # Stripe cannot be read while the failed payment's event is applied: it rolls back whole.
    monkeypatch.setattr(billing_gateway, "retrieve_subscription", unreachable)
    live_sandbox.advance(32 * DAY)
    live_sandbox.flush()
    [failed_event] = _event_ids("invoice.payment_failed")
    row = db.session.scalar(
        sa.select(StripeEvent).where(StripeEvent.stripe_event_id == failed_event)
    )
    assert row is not None and row.status is EventStatus.FAILED
    assert with_subject(app, FAILED_SUBJECT) == []

    monkeypatch.undo()
    for _ in range(2):
        live_sandbox.control(f"events/{failed_event}/redeliver")
        live_sandbox.flush()
    assert len(with_subject(app, FAILED_SUBJECT)) == 1
