"""What a coach, and the admins, hear of payouts and of what Stripe still needs, by email,
through the offline Stripe: a payout on its way, paid, or failed with the reason in words and
what to do; Stripe asking for more after onboarding. Each once, whatever Stripe redelivers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import Role, StripeEvent, User
from tests.builders import make_connected_account, make_user
from tests.conftest import PASSWORD
from tests.mailbox import (
    assert_nothing_secret,
    html_of,
    links_to,
    messages,
    text_of,
    with_subject,
)
from tests.payouts.conftest import (
    ATTEMPT,
    Live,
    earn,
    onboard_in_browser,
    post_form,
    start_onboarding,
)
from tests.webhooks import payloads
from tests.webhooks.signing import CONNECT_PATH, connect_secret, signed_post

TWO_DAYS = 2 * 86400 + 1
FAILS_EVERY_PAYOUT = "000111111116"


def _paid_out(live: Live, coach: User, client: FlaskClient, account_number: str = "") -> str:
    """Onboard the coach, earn 80.00 that becomes available, and press "Pay out now"."""
    link = start_onboarding(client)
    client.get(onboard_in_browser(live, link, account_number=account_number or "000123456789"))
    account_id = db.session.get(User, coach.id).stripe_connect_account_id
    earn(coach, "100.00", paid=live.destination_charge(account_id, 10000, 2000))
    live.advance(TWO_DAYS)
    response = post_form(client, "/coach/earnings/pay-out", amount="80.00", attempt=ATTEMPT)
    assert response.status_code == 303, response.text
    return account_id


def _redeliver_last(live: Live, event_type: str) -> None:
    event_id = db.session.scalar(
        sa.select(StripeEvent.stripe_event_id)
        .where(StripeEvent.type == event_type)
        .order_by(StripeEvent.id.desc())
        .limit(1)
    )
    assert event_id is not None, event_type
    live.control(f"events/{event_id}/redeliver")
    live.flush()


def test_a_payout_is_mailed_on_its_way_and_once_paid_however_often_stripe_says_so(
    live: Live, app: Flask, coach: User, coach_client: FlaskClient
) -> None:
    _paid_out(live, coach, coach_client)
    live.flush()  # payout.created arrives after the portal recorded its own payout
    [sent] = with_subject(app, "Payout on its way: $80.00")
    assert sent["To"] == coach.email
    assert links_to(sent, "/coach/earnings/payouts")
    assert "should arrive on" in text_of(sent) and "should arrive on" in html_of(sent)

    live.advance(TWO_DAYS)
    _redeliver_last(live, "payout.paid")
    [paid] = with_subject(app, "Payout paid: $80.00 reached your bank")
    assert paid["To"] == coach.email
    assert links_to(paid, "/coach/earnings/payouts")
    assert len(with_subject(app, "Payout on its way")) == 1
    for message in messages(app):
        assert_nothing_secret(message)


def test_a_failed_payout_tells_the_coach_why_and_what_to_fix_and_every_admin(
    live: Live, app: Flask, coach: User, coach_client: FlaskClient
) -> None:
    admins = [make_user(Role.ADMIN, password=PASSWORD) for _ in range(2)]
    former = make_user(Role.ADMIN, password=PASSWORD)
    former.is_active = False
    db.session.commit()
    _paid_out(live, coach, coach_client, FAILS_EVERY_PAYOUT)
    live.advance(TWO_DAYS)
    _redeliver_last(live, "payout.failed")

    [failed] = with_subject(app, "Payout failed: $80.00 did not reach your bank")
    assert failed["To"] == coach.email
    text = text_of(failed)
    assert "did not reach you: the bank could not find that account." in text  # no_account
    assert "give Stripe a bank account that can receive it" in text
    assert "back in your available balance" in text
    assert links_to(failed, "/coach/earnings/get-paid")
    assert "the bank could not find that account" in html_of(failed)
    assert with_subject(app, "Payout paid") == []

    told = with_subject(app, f"Payout failed: {coach.name}, $80.00")
    assert sorted(m["To"] for m in told) == sorted(a.email for a in admins)
    assert former.email not in [m["To"] for m in messages(app)]
    assert "Stripe's failure code: no_account" in text_of(told[0])
    assert links_to(told[0], "/admin/attention")
    for message in messages(app):
        assert_nothing_secret(message)  # the bank account number above appears nowhere


@pytest.mark.parametrize(
    ("code", "why", "advice"),
    [
        ("insufficient_funds", "Stripe's balance for you was too low", "Nothing to change"),
        ("account_frozen", "the bank account is frozen", "give Stripe a bank account"),
        ("a_code_stripe_adds_later", "the bank returned it", "give Stripe a bank account"),
    ],
)
def test_a_failed_payout_says_whether_the_next_payout_cures_it(
    app: Flask, client: FlaskClient, code: str, why: str, advice: str
) -> None:
    coach = make_user(Role.COACH)
    account = make_connected_account(coach)
    failed = payloads.payout("po_failed", 5000, status="failed")
    failed["failure_code"] = code
    event = payloads.event("payout.failed", failed, account=account.stripe_account_id)
    assert signed_post(client, CONNECT_PATH, event, connect_secret(client)).status_code == 200
    [told] = with_subject(app, "Payout failed: $50.00 did not reach your bank")
    assert f"did not reach you: {why}" in text_of(told) and advice in text_of(told)


def test_a_coach_who_switched_optional_mail_off_still_hears_a_payout_was_paid(
    live: Live, app: Flask, coach: User, coach_client: FlaskClient
) -> None:
    page = coach_client.get("/account/profile").text
    assert "Email me reminders of my sessions, and when a payout is on its way" in page
    response = post_form(coach_client, "/account/profile", name=coach.name, submit="Save")
    assert response.status_code == 303  # the box left unticked
    _paid_out(live, coach, coach_client)
    live.advance(TWO_DAYS)
    assert with_subject(app, "Payout on its way") == []
    assert len(with_subject(app, "Payout paid: $80.00")) == 1


def test_stripe_asking_for_more_after_onboarding_is_mailed_once_per_new_need(
    live: Live, app: Flask, coach: User, coach_client: FlaskClient
) -> None:
    coach_client.get(onboard_in_browser(live, start_onboarding(coach_client)))
    live.flush()
    assert with_subject(app, "Stripe needs") == []  # the onboarding's own steps mail nothing
    account_id = db.session.get(User, coach.id).stripe_connect_account_id

    live.control(
        f"accounts/{account_id}/require", currently_due=["individual.id_number"], deadline_in=86400
    )
    live.flush()
    [asked] = with_subject(app, "Stripe needs your government tax ID number to keep paying you")
    assert asked["To"] == coach.email
    assert "Give it by " in text_of(asked) and "switched off" not in text_of(asked)
    assert links_to(asked, "/coach/earnings/get-paid")
    _redeliver_last(live, "account.updated")
    # The same need again, its deadline passed: payouts stop, but the needs did not change.
    live.control(f"accounts/{account_id}/require", currently_due=["individual.id_number"])
    live.flush()
    assert len(with_subject(app, "Stripe needs")) == 1

    live.control(
        f"accounts/{account_id}/require",
        currently_due=["individual.id_number", "individual.verification.document"],
    )
    live.flush()
    [_, more] = with_subject(app, "Stripe needs")
    assert more["Subject"] == "Stripe needs 2 more details to keep paying you"
    text = text_of(more)
    assert "- your government tax ID number" in text and "- a photo of your ID document" in text
    assert "your payouts are switched off" in text and "your payouts are switched off" in (
        html_of(more)
    )
    for message in messages(app):
        assert_nothing_secret(message)
