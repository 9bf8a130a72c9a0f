"""Payment intents with each test card, destination charges, refunds and disputes."""

from __future__ import annotations

import pytest
import stripe


def _card(client, number):
    return client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )


def _charge(client, customer, pm, **extra):
    return client.v1.payment_intents.create(
        params={
            "amount": 2500,
            "currency": "usd",
            "customer": customer,
            "payment_method": pm,
            "confirm": True,
            **extra,
        }
    )


@pytest.fixture()
def customer(client):
    return client.v1.customers.create(params={"email": "mentee@example.com"}).id


def test_good_cards_succeed_with_a_charge(client, customer):
    for number in ("4242424242424242", "5555555555554444"):
        pi = _charge(client, customer, _card(client, number).id, expand=["latest_charge"])
        assert pi.status == "succeeded"
        charge = pi.latest_charge
        assert (
            charge.paid and charge.amount == 2500 and charge.balance_transaction.startswith("txn_")
        )
        assert charge.payment_method_details.card.last4 == number[-4:]


@pytest.mark.parametrize(
    ("number", "decline_code"),
    [
        ("4000000000000002", "generic_decline"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000341", "generic_decline"),
    ],
)
def test_declining_cards_give_card_errors(client, customer, number, decline_code):
    pm = _card(client, number)
    with pytest.raises(stripe.CardError) as err:
        _charge(client, customer, pm.id)
    assert err.value.code == "card_declined"
    assert err.value.error.decline_code == decline_code
    pi = client.v1.payment_intents.retrieve(err.value.error.payment_intent.id)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.decline_code == decline_code


def test_only_0341_can_be_saved(client, customer):
    saved = client.v1.payment_methods.attach(
        _card(client, "4000000000000341").id, params={"customer": customer}
    )
    assert saved.customer == customer
    with pytest.raises(stripe.CardError):
        client.v1.payment_methods.attach(
            _card(client, "4000000000000002").id, params={"customer": customer}
        )


def test_invalid_number_is_incorrect_number(client):
    with pytest.raises(stripe.CardError) as err:
        _card(client, "4242424242424241")
    assert err.value.code == "incorrect_number" and err.value.param == "card[number]"


def test_authentication_card_needs_action_on_session_and_fails_off_session(client, customer):
    pm = client.v1.payment_methods.attach(
        _card(client, "4000002500003155").id, params={"customer": customer}
    )
    pi = _charge(client, customer, pm.id, return_url="http://portal.test/back")
    assert pi.status == "requires_action"
    assert pi.next_action.redirect_to_url.url.endswith(f"/authenticate/{pi.id}")
    with pytest.raises(stripe.CardError) as err:
        _charge(client, customer, pm.id, off_session=True)
    assert err.value.code == "authentication_required"


def test_authentication_page_completes_the_payment(client, customer, http):
    pm = _card(client, "4000002500003155")
    pi = _charge(client, customer, pm.id, return_url="http://portal.test/back")
    answer = http.post(
        pi.next_action.redirect_to_url.url,
        data={"answer": "approve"},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 303 and answer.headers["Location"] == "http://portal.test/back"
    assert client.v1.payment_intents.retrieve(pi.id).status == "succeeded"


def test_dispute_card_opens_a_dispute(client, customer, sandbox_tools, receiver):
    pi = _charge(client, customer, _card(client, "4000000000000259").id)
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.disputed
    disputes = client.v1.disputes.list(params={"charge": charge.id}).data
    assert disputes[0].id.startswith("du_") and disputes[0].status == "needs_response"
    sandbox_tools.flush()
    assert "charge.dispute.created" in receiver.types("/platform")


def test_destination_must_have_finished_onboarding(client, customer, sandbox_tools):
    half = sandbox_tools.onboard(finish=False)
    with pytest.raises(stripe.InvalidRequestError) as err:
        _charge(client, customer, "pm_card_visa", transfer_data={"destination": half})
    assert err.value.code == "insufficient_capabilities_for_transfer"


def test_setup_intent_saves_a_card(client, customer, sandbox_tools, receiver):
    seti = client.v1.setup_intents.create(
        params={"customer": customer, "payment_method": "pm_card_visa", "confirm": True}
    )
    assert seti.status == "succeeded"
    assert client.v1.payment_methods.retrieve(seti.payment_method).customer == customer
    sandbox_tools.flush()
    assert {"setup_intent.succeeded", "payment_method.attached"} <= set(receiver.types())


def test_cancel_and_detach(client, customer, sandbox_tools, receiver):
    pi = client.v1.payment_intents.create(params={"amount": 900, "currency": "eur"})
    assert pi.status == "requires_payment_method"
    assert client.v1.payment_intents.cancel(pi.id).status == "canceled"
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer})
    assert client.v1.payment_methods.detach(pm.id).customer is None
    sandbox_tools.flush()
    assert "payment_method.detached" in receiver.types()
