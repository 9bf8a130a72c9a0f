"""“Get paid”: a coach's Express account is made once, onboarding is Stripe's, and only Stripe's
word (`charges_enabled` / `payouts_enabled`) makes the coach payable."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import Role, StripeConnectedAccount, User
from portal.payouts import services
from portal.stripe_gateway import StripeUnavailable
from tests.builders import make_connected_account, make_user
from tests.payouts.conftest import (
    Live,
    onboard_in_browser,
    path_of,
    post_form,
    signed_in,
    start_onboarding,
)
from tests.stripe_fake import FakeStripe


def _account(coach: User) -> StripeConnectedAccount | None:
    db.session.expire_all()
    return db.session.get(User, coach.id).stripe_connected_account


# --- through the offline Stripe ---------------------------------------------------------------


def test_coach_completes_onboarding_and_payouts_turn_on(
    live: Live, coach: User, coach_client: FlaskClient
) -> None:
    link = start_onboarding(coach_client)
    account = _account(coach)
    assert account is not None and not account.payouts_enabled and account.requires_onboarding
    assert db.session.get(User, coach.id).stripe_connect_account_id == account.stripe_account_id
    at_stripe = live.stripe.v1.accounts.retrieve(account.stripe_account_id)
    assert at_stripe.email == coach.email and at_stripe.country == "US"
    assert set(at_stripe.capabilities.to_dict()) == {"card_payments", "transfers"}
    assert at_stripe.settings.payouts.schedule.interval == "manual"

    back = onboard_in_browser(live, link)
    assert back == "/coach/earnings/get-paid/return"
    page = coach_client.get(back)
    assert page.status_code == 200
    assert "Payouts are on" in page.text  # what Stripe says now, read server-side

    live.flush()  # the portal's record changes with account.updated
    account = _account(coach)
    assert account.charges_enabled and account.payouts_enabled and account.details_submitted
    assert not account.requires_onboarding and account.verification_status == "verified"
    assert account.business_type == "individual"
    assert live.deliveries_failed() == []


def test_coach_who_saves_and_finishes_later_sees_what_stripe_still_needs(
    live: Live, coach: User, coach_client: FlaskClient
) -> None:
    link = start_onboarding(coach_client)
    back = onboard_in_browser(live, link, finish=False)
    page = coach_client.get(back)
    assert "Stripe still needs" in page.text
    assert "the bank account your payouts go to" in page.text
    assert "external_account" not in page.text  # Stripe's codes are not shown to coaches
    account = _account(coach)
    assert not account.payouts_enabled and not account.charges_enabled
    assert account.requires_onboarding

    # "Continue with Stripe" makes a fresh link for the same account; finishing turns payouts on.
    again = start_onboarding(coach_client)
    assert again != link
    assert db.session.query(StripeConnectedAccount).count() == 1
    coach_client.get(onboard_in_browser(live, again))
    live.flush()
    assert _account(coach).payouts_enabled


def test_used_or_expired_link_comes_back_through_refresh_for_a_fresh_one(
    live: Live, coach: User, coach_client: FlaskClient
) -> None:
    link = start_onboarding(coach_client)
    assert live.browser.get(link, allow_redirects=False, timeout=10).status_code == 303
    reused = live.browser.get(link, allow_redirects=False, timeout=10)
    assert path_of(reused.headers["Location"]) == "/coach/earnings/get-paid/refresh"

    fresh = coach_client.get("/coach/earnings/get-paid/refresh")
    assert fresh.status_code == 303
    fresh_link = fresh.headers["Location"]
    assert fresh_link.startswith(live.sandbox.url + "/connect/onboarding/")
    live.control("clock/advance", seconds=301)
    expired = live.browser.get(fresh_link, allow_redirects=False, timeout=10)
    assert path_of(expired.headers["Location"]) == "/coach/earnings/get-paid/refresh"

    newest = coach_client.get("/coach/earnings/get-paid/refresh").headers["Location"]
    coach_client.get(onboard_in_browser(live, newest))
    live.flush()
    assert _account(coach).payouts_enabled


def test_returning_before_stripe_enables_anything_is_not_completion(
    live: Live, coach: User, coach_client: FlaskClient
) -> None:
    start_onboarding(coach_client)  # the coach never fills the form, just comes "back"
    page = coach_client.get("/coach/earnings/get-paid/return")
    assert "Stripe still needs" in page.text and "your legal name" in page.text
    account = _account(coach)
    assert not account.charges_enabled and not account.payouts_enabled


# --- with Connect faked at the gateway --------------------------------------------------------


def test_the_return_page_shows_stripe_state_but_only_account_updated_stores_it(
    coach: User, coach_client: FlaskClient, stripe_fake: FakeStripe
) -> None:
    start_onboarding(coach_client)
    account_id = _account(coach).stripe_account_id
    stripe_fake.accounts[account_id].update(
        charges_enabled=True,
        payouts_enabled=True,
        details_submitted=True,
        requirements={"currently_due": [], "past_due": []},
    )
    page = coach_client.get("/coach/earnings/get-paid/return")
    assert "Payouts are on" in page.text
    assert stripe_fake.count("accounts.retrieve") == 1
    account = _account(coach)
    assert not account.payouts_enabled and account.requires_onboarding


def test_an_account_update_applied_at_or_after_an_event_is_recognised(
    app: Flask, coach: User
) -> None:
    from datetime import UTC, datetime

    from portal.models import EventStatus, StripeEvent

    account = make_connected_account(coach)
    db.session.add(
        StripeEvent(
            stripe_event_id="evt_newer",
            type="account.updated",
            account=account.stripe_account_id,
            payload={},
            status=EventStatus.PROCESSED,
            stripe_created_at=datetime.fromtimestamp(2_000, UTC),
        )
    )
    db.session.commit()
    applied = datetime.fromtimestamp(2_000, UTC)
    since = services.applied_account_update_since
    assert since(account.stripe_account_id, {"id": "evt_older", "created": 1_999}) == applied
    # The same second: applied, and not newer; the event itself does not count.
    assert since(account.stripe_account_id, {"id": "evt_twin", "created": 2_000}) == applied
    assert since(account.stripe_account_id, {"id": "evt_newer", "created": 2_000}) is None
    assert since(account.stripe_account_id, {"id": "evt_later", "created": 2_001}) is None
    assert since("acct_other", {"id": "evt_older", "created": 1_999}) is None


def test_get_paid_form_defaults_to_the_platform_country(
    app: Flask, coach_client: FlaskClient, stripe_fake: FakeStripe
) -> None:
    app.config["PLATFORM_COUNTRY"] = "GB"
    page = coach_client.get("/coach/earnings/get-paid")
    assert re.search(r'<option selected value="GB">|<option value="GB" selected>', page.text)
    assert stripe_fake.calls == []


def test_account_is_created_once_however_often_the_coach_presses_get_paid(
    coach: User, coach_client: FlaskClient, stripe_fake: FakeStripe
) -> None:
    first = start_onboarding(coach_client, country="CA")
    second = start_onboarding(coach_client, country="CA")
    assert first != second  # a fresh single-use link each time
    assert stripe_fake.count("accounts.create") == 1
    created = stripe_fake.calls[0][1]
    assert created["country"] == "CA" and created["email"] == coach.email
    assert created["key"].startswith(f"connect-account:{coach.id}:")
    account = _account(coach)
    assert account.country == "CA"
    assert db.session.query(StripeConnectedAccount).count() == 1


def test_the_same_coach_always_sends_stripe_the_same_account_key(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    # A crash after Stripe made the account but before our commit: the retry gets the same one.
    services.start_onboarding(coach.id, "US")
    db.session.rollback()
    services.start_onboarding(coach.id, "US")
    db.session.commit()
    keys = {details["key"] for name, details in stripe_fake.calls if name == "accounts.create"}
    assert len(keys) == 1 and len(stripe_fake.accounts) == 1


def test_stripe_outage_during_get_paid_shows_a_message_and_stores_nothing(
    coach: User, coach_client: FlaskClient, stripe_fake: FakeStripe
) -> None:
    stripe_fake.fail_with = StripeUnavailable("We could not reach our payment provider.")
    response = post_form(coach_client, "/coach/earnings/get-paid", country="US")
    assert response.status_code == 303
    page = coach_client.get(response.headers["Location"])
    assert "We could not reach our payment provider." in page.text
    assert _account(coach) is None


def test_unknown_country_is_refused_with_a_message(
    coach: User, coach_client: FlaskClient, stripe_fake: FakeStripe
) -> None:
    response = post_form(coach_client, "/coach/earnings/get-paid", country="ZZ")
    assert response.status_code == 400
    assert "Not a valid choice" in response.text
    assert stripe_fake.calls == [] and _account(coach) is None


def test_refresh_without_an_account_goes_back_to_get_paid(
    coach_client: FlaskClient, stripe_fake: FakeStripe
) -> None:
    response = coach_client.get("/coach/earnings/get-paid/refresh")
    assert response.status_code == 302
    assert response.headers["Location"] == "/coach/earnings/get-paid"
    assert stripe_fake.calls == []


def test_requirement_codes_become_plain_phrases() -> None:
    phrases = services.describe_requirements(
        [
            "individual.first_name",
            "individual.last_name",
            "individual.dob.day",
            "individual.address.city",
            "tos_acceptance.date",
            "tos_acceptance.ip",
            "person_1AbC.verification.document",
            "something.new",
            "external_account",
        ]
    )
    assert phrases == [
        "your legal name",
        "your date of birth",
        "your home address",
        "accepting Stripe's services agreement",
        "details of the person who runs the company",
        "a few more details Stripe asks for",
        "the bank account your payouts go to",
    ]


def test_express_dashboard_opens_through_a_login_link(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    client = signed_in(app, coach)
    start_onboarding(client)
    refused = post_form(client, "/coach/earnings/stripe-dashboard")
    assert refused.status_code == 303 and refused.headers["Location"] == "/coach/earnings"
    assert stripe_fake.count("login_links.create") == 0

    account = _account(coach)
    account.details_submitted = True
    db.session.commit()
    response = post_form(client, "/coach/earnings/stripe-dashboard")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://connect.stripe.com/express/")
    assert client.get("/coach/earnings/stripe-dashboard").status_code == 405


def test_express_dashboard_through_the_offline_stripe_shows_the_coach_balance(
    live: Live, coach: User, coach_client: FlaskClient
) -> None:
    coach_client.get(onboard_in_browser(live, start_onboarding(coach_client)))
    live.flush()
    response = post_form(coach_client, "/coach/earnings/stripe-dashboard")
    assert response.status_code == 303
    page = live.browser.get(response.headers["Location"], timeout=10)
    assert page.status_code == 200 and "Payouts" in page.text


def test_a_mentee_cannot_start_onboarding(app: Flask, stripe_fake: FakeStripe) -> None:
    mentee = make_user(Role.MENTEE)
    client = signed_in(app, mentee)
    assert post_form(client, "/coach/earnings/get-paid", country="US").status_code == 403
    assert stripe_fake.calls == []
