"""Saved cards through the sandbox: setup-mode Checkout, default, removal, events in any order."""

from __future__ import annotations

import pytest
from flask import Flask

from portal.extensions import db
from portal.models import PaymentMethod
from tests.billing.conftest import (
    ALWAYS_DECLINES,
    GOOD,
    attempt,
    bookable_coach,
    cards_of,
    fill_hosted_page,
    open_card_setup,
    save_card,
    signed_in_mentee,
    subscribe,
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


def test_saving_a_card_already_on_file_keeps_the_one_on_file_and_detaches_the_new_copy(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    save_card(live_portal, browser, GOOD)
    save_card(live_portal, browser, "5555 5555 5555 4444")
    live_sandbox.flush()
    visa, mastercard = cards_of(mentee)
    assert (visa.is_default, mastercard.is_default) == (True, False)
    live_portal.post(browser, f"/billing/cards/{mastercard.id}/default", "/billing/cards")

    # The same Visa again, asking for it to become the default.
    started = live_portal.post(
        browser, "/billing/cards/add", "/billing/cards", attempt=attempt(), make_default="y"
    )
    hosted = fill_hosted_page(browser, started.headers["Location"], GOOD)
    page = browser.get(hosted.headers["Location"], timeout=20).text
    assert (
        "Visa ending 4242 is already on file, so we kept that one. It is now your default card."
        in page
    )
    live_sandbox.flush()
    rows = cards_of(mentee)
    assert [(c.id, c.last4, c.is_default) for c in rows] == [
        (visa.id, "4242", True),
        (mastercard.id, "4444", False),
    ]
    customer_id = rows[0].user.stripe_customer_id
    at_stripe = live_sandbox.client().v1.payment_methods.list(
        params={"customer": customer_id, "type": "card"}
    )
    assert sorted(pm.id for pm in at_stripe.data) == sorted(
        [visa.stripe_payment_method_id, mastercard.stripe_payment_method_id]
    )


def test_the_membership_card_is_offered_for_one_click_only_once_the_mentee_saves_it(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    coach, _ = bookable_coach(live_sandbox)
    mentee, browser = signed_in_mentee(live_portal)
    subscribe(live_portal, browser)
    live_sandbox.flush()  # the membership's card arrives by its webhook
    [card] = cards_of(mentee)
    assert (card.last4, card.is_default, card.chosen) == ("4242", True, False)
    coach_page = browser.get(f"{live_portal.url}/coaches/{coach.id}", timeout=10).text
    assert "Book and pay" in coach_page and "Pay with Visa" not in coach_page

    page = save_card(live_portal, browser, GOOD).text
    assert "Visa ending 4242 is already on file, so we kept that one." in page
    live_sandbox.flush()
    [kept] = cards_of(mentee)
    assert (kept.id, kept.chosen) == (card.id, True)
    coach_page = browser.get(f"{live_portal.url}/coaches/{coach.id}", timeout=10).text
    assert "Pay with Visa ending 4242" in coach_page


def _attach_copy_at_stripe(live_sandbox: LiveSandbox, customer_id: str) -> str:
    """The same Visa added to the customer again outside the portal (Stripe's customer portal),
    its events held back; returns the new PaymentMethod's id."""
    live_sandbox.control("webhooks/pause")
    copy = live_sandbox.client().v1.payment_methods.attach(
        "pm_card_visa", params={"customer": customer_id}
    )
    return copy.id


def _at_stripe(live_sandbox: LiveSandbox, customer_id: str) -> list[str]:
    listed = live_sandbox.client().v1.payment_methods.list(
        params={"customer": customer_id, "type": "card"}
    )
    return sorted(pm.id for pm in listed.data)


def test_a_copy_added_at_stripe_is_merged_into_the_card_on_file_when_the_cards_are_synced(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    save_card(live_portal, browser, GOOD)
    live_sandbox.flush()
    [visa] = cards_of(mentee)
    customer_id = _customer_of(mentee)
    _attach_copy_at_stripe(live_sandbox, customer_id)

    back = browser.get(f"{live_portal.url}/billing/membership/returned", timeout=20)
    assert back.status_code == 200
    [kept] = cards_of(mentee)
    assert (kept.id, kept.is_default, kept.chosen) == (visa.id, True, True)
    assert _at_stripe(live_sandbox, customer_id) == [visa.stripe_payment_method_id]

    live_sandbox.control("webhooks/resume")  # the copy's attach and detach, late
    live_sandbox.flush()
    assert [c.id for c in cards_of(mentee)] == [visa.id]


def test_copies_already_on_file_are_merged_keeping_the_default_and_the_mentees_choice(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    mentee, browser = signed_in_mentee(live_portal)
    save_card(live_portal, browser, GOOD)
    live_sandbox.flush()
    [older] = cards_of(mentee)
    customer_id = _customer_of(mentee)
    copy_id = _attach_copy_at_stripe(live_sandbox, customer_id)
    # A second row for the same card, kept from before saving matched cards, and the default.
    newer = PaymentMethod(
        user_id=mentee.id,
        stripe_payment_method_id=copy_id,
        type="credit",
        brand="visa",
        last4="4242",
        expiry_month=12,
        expiry_year=2034,
        fingerprint=older.fingerprint,
        is_default=True,
        chosen=False,
    )
    db.session.add(newer)
    older.is_default = False
    mentee.default_payment_method_id = copy_id
    db.session.commit()

    browser.get(f"{live_portal.url}/billing/membership/returned", timeout=20)
    [kept] = cards_of(mentee)
    assert (kept.id, kept.is_default, kept.chosen) == (newer.id, True, True)
    assert _at_stripe(live_sandbox, customer_id) == [copy_id]
    page = browser.get(f"{live_portal.url}/billing/cards", timeout=10).text
    assert page.count('<tr id="card-') == 1
    live_sandbox.control("webhooks/resume")
    live_sandbox.flush()
    assert [c.id for c in cards_of(mentee)] == [newer.id]
