"""Saved cards through the sandbox: setup-mode Checkout, default, removal, events in any order."""

from __future__ import annotations

import pytest
from flask import Flask

from portal.extensions import db
from tests.billing.conftest import (
    ALWAYS_DECLINES,
    GOOD,
    cards_of,
    fill_hosted_page,
    open_card_setup,
    save_card,
    signed_in_mentee,
)
from tests.live import LivePortal, LiveSandbox

pytestmark = pytest.mark.usefixtures("settled")


def test_a_card_saved_in_setup_mode_shows_at_once_and_stays_one_row_after_its_events(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    cards_page = save_card(live_portal, browser)  # the return URL redirects to the cards page
    assert cards_page.url == live_portal.url + "/billing/cards"
    assert "Visa ending 4242 is saved." in cards_page.text
    assert "Default" in cards_page.text
    [card] = cards_of(mentee)
    assert (card.brand, card.last4, card.expiry_month, card.expiry_year) == (
        "visa",
        "4242",
        12,
        2034,
    )
    assert card.is_default

    live_sandbox.flush()  # setup_intent.succeeded, payment_method.attached, checkout...completed
    [again] = cards_of(mentee)
    assert again.id == card.id
    db_user = again.user
    assert db_user.default_payment_method_id == card.stripe_payment_method_id
    customer = live_sandbox.client().v1.customers.retrieve(db_user.stripe_customer_id)
    assert customer.invoice_settings.default_payment_method == card.stripe_payment_method_id


def test_the_webhooks_alone_save_the_card_when_the_mentee_never_comes_back(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    save_card(live_portal, browser, come_back=False)
    live_sandbox.flush()
    [card] = cards_of(mentee)
    assert card.last4 == "4242" and card.is_default


def test_a_card_the_bank_refuses_to_save_saves_nothing(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    hosted = fill_hosted_page(browser, open_card_setup(live_portal, browser), ALWAYS_DECLINES)
    assert hosted.status_code == 200  # the form again, with the message
    assert "declined" in hosted.text
    live_sandbox.flush()
    assert cards_of(mentee) == []


def test_setting_the_default_moves_it_here_and_on_the_stripe_customer(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    save_card(live_portal, browser, GOOD)
    save_card(live_portal, browser, "5555 5555 5555 4444")
    first, second = cards_of(mentee)
    assert (first.is_default, second.is_default) == (True, False)

    response = live_portal.post(browser, f"/billing/cards/{second.id}/default", "/billing/cards")
    assert response.status_code == 303
    first, second = cards_of(mentee)
    assert (first.is_default, second.is_default) == (False, True)
    assert second.user.default_payment_method_id == second.stripe_payment_method_id
    customer = live_sandbox.client().v1.customers.retrieve(second.user.stripe_customer_id)
    assert customer.invoice_settings.default_payment_method == second.stripe_payment_method_id


def test_setting_the_default_with_htmx_swaps_the_card_list_in_place(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    save_card(live_portal, browser, GOOD)
    save_card(live_portal, browser, "5555 5555 5555 4444")
    _, second = cards_of(mentee)
    token = live_portal.csrf(browser, "/billing/cards")
    response = browser.post(
        f"{live_portal.url}/billing/cards/{second.id}/default",
        headers={"HX-Request": "true", "X-CSRFToken": token},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="cards"')
    assert "<html" not in response.text
    assert "Mastercard ending 4444 is now your default card." in response.text


def test_removing_the_default_detaches_it_and_the_default_moves_then_clears(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    save_card(live_portal, browser, GOOD)
    save_card(live_portal, browser, "5555 5555 5555 4444")
    first, second = cards_of(mentee)
    first_pm, second_id = first.stripe_payment_method_id, second.id
    stripe = live_sandbox.client()

    response = live_portal.post(browser, f"/billing/cards/{first.id}/remove", "/billing/cards")
    assert response.status_code == 303
    [left] = cards_of(mentee)
    assert left.id == second_id and left.is_default
    assert stripe.v1.payment_methods.retrieve(first_pm).customer is None
    customer_id = left.user.stripe_customer_id
    customer = stripe.v1.customers.retrieve(customer_id)
    assert customer.invoice_settings.default_payment_method == left.stripe_payment_method_id

    live_portal.post(browser, f"/billing/cards/{second_id}/remove", "/billing/cards")
    live_sandbox.flush()
    assert cards_of(mentee) == []
    db.session.refresh(mentee)
    assert mentee.default_payment_method_id is None
    assert stripe.v1.customers.retrieve(customer_id).invoice_settings.default_payment_method is None


def test_card_events_delivered_in_reverse_order_leave_what_stripe_has(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    """Saved, then removed in Stripe's own portal: `.detached` arrives before `.attached`."""
    mentee, browser = signed_in_mentee(live_portal)
    live_sandbox.control("webhooks/pause")
    save_card(live_portal, browser, come_back=False)
    stripe = live_sandbox.client()
    [method] = stripe.v1.payment_methods.list(
        params={"customer": _customer_of(mentee), "type": "card"}
    ).data
    stripe.v1.payment_methods.detach(method.id)
    events = stripe.v1.events.list(params={"limit": 100}).data
    wanted = [
        e.id
        for e in events
        if e.type
        in ("payment_method.attached", "payment_method.detached", "setup_intent.succeeded")
    ]  # newest first: detached, then the events that saved it
    live_sandbox.control("webhooks/deliver", ids=wanted)
    live_sandbox.control("webhooks/resume")
    live_sandbox.flush()
    assert cards_of(mentee) == []


def _customer_of(mentee) -> str:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    db.session.refresh(mentee)
    return mentee.stripe_customer_id
