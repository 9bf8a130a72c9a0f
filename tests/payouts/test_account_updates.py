"""`account.updated` on the Connect endpoint keeps the coach's account row current, for that
account only, and is what makes a coach payable."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import Role, StripeConnectedAccount, User
from portal.stripe_gateway import connect as connect_gateway
from tests.builders import make_connected_account, make_user
from tests.webhooks import payloads
from tests.webhooks.signing import CONNECT_PATH, connect_secret, signed_post


def _post(client: FlaskClient, event: dict) -> None:
    response = signed_post(client, CONNECT_PATH, event, connect_secret(client))
    assert response.status_code == 200, response.text


def _reload(account: StripeConnectedAccount) -> StripeConnectedAccount:
    db.session.expire_all()
    return db.session.get(StripeConnectedAccount, account.id)


def test_account_updated_turns_payouts_on_and_records_every_field(
    client: FlaskClient, coach: User
) -> None:
    account = make_connected_account(coach, charges_enabled=False)
    data = payloads.account(account.stripe_account_id, country="GB", default_currency="gbp")
    _post(client, payloads.event("account.updated", data, account=account.stripe_account_id))
    account = _reload(account)
    assert account.charges_enabled and account.payouts_enabled and account.details_submitted
    assert account.requires_onboarding is False
    assert account.verification_status == "verified"
    assert account.requirements["currently_due"] == []
    assert account.business_type == "individual"
    assert account.business_profile["product_description"] == "Coaching sessions"
    assert (account.country, account.default_currency) == ("GB", "GBP")


def test_account_updated_with_requirements_due_turns_payouts_off(
    client: FlaskClient, coach: User
) -> None:
    account = make_connected_account(coach, charges_enabled=True)
    data = payloads.account(
        account.stripe_account_id,
        charges_enabled=False,
        payouts_enabled=False,
        currently_due=["individual.verification.document"],
    )
    _post(client, payloads.event("account.updated", data, account=account.stripe_account_id))
    account = _reload(account)
    assert not account.charges_enabled and not account.payouts_enabled
    assert account.requires_onboarding and account.verification_status == "disabled"


def test_an_event_for_one_account_changes_only_that_coach(client: FlaskClient, coach: User) -> None:
    other = make_user(Role.COACH)
    mine = make_connected_account(coach, charges_enabled=False)
    theirs = make_connected_account(other, charges_enabled=False)
    data = payloads.account(mine.stripe_account_id)
    _post(client, payloads.event("account.updated", data, account=mine.stripe_account_id))
    assert _reload(mine).payouts_enabled
    theirs = _reload(theirs)
    assert not theirs.payouts_enabled and theirs.requires_onboarding
    assert theirs.requirements is None


def test_a_coach_stripe_disables_shows_what_is_needed_on_the_dashboard(
    client: FlaskClient, coach: User
) -> None:
    from tests.conftest import login

    account = make_connected_account(coach, charges_enabled=True)
    data = payloads.account(
        account.stripe_account_id,
        charges_enabled=False,
        payouts_enabled=False,
        currently_due=["individual.verification.document"],
    )
    _post(client, payloads.event("account.updated", data, account=account.stripe_account_id))
    login(client, coach)
    page = client.get("/coach/earnings")
    assert "Stripe still needs" in page.text and "a photo of your ID document" in page.text
    assert "Pay out now" not in page.text


def test_two_updates_of_one_second_end_as_stripe_has_the_account_whatever_their_order(
    client: FlaskClient, coach: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Onboarding's last steps send several account.updated within one second; the newest may
    arrive first. Their timestamps cannot order them, so Stripe's current account decides."""
    account = make_connected_account(coach, charges_enabled=False)
    acct = account.stripe_account_id
    newer = payloads.account(acct)
    older = payloads.account(
        acct, charges_enabled=False, payouts_enabled=False, currently_due=["external_account"]
    )
    asked: list[str] = []
    monkeypatch.setattr(
        connect_gateway, "retrieve_account", lambda account_id: asked.append(account_id) or newer
    )
    second = 1_800_000_000
    _post(client, payloads.event("account.updated", newer, account=acct, created=second))
    assert asked == []  # the first of its second needs no look at Stripe
    _post(client, payloads.event("account.updated", older, account=acct, created=second))
    assert asked == [acct]
    account = _reload(account)
    assert account.charges_enabled and account.payouts_enabled
    assert account.requires_onboarding is False
