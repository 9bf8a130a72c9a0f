"""Disputes: funds and fee withdrawn, evidence staged and submitted, won or lost by the control
endpoint or the clock, and a lost destination charge recovered by reversing the transfer."""

from __future__ import annotations

import pytest
import requests
import stripe

DAY = 86400


def _disputed(client, coach=None):
    customer = client.v1.customers.create(params={"email": "m@example.com"})
    extra = (
        {"application_fee_amount": 2000, "transfer_data": {"destination": coach}} if coach else {}
    )
    pi = client.v1.payment_intents.create(
        params={
            "amount": 10000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_createDispute",
            "confirm": True,
            **extra,
        }
    )
    [dispute] = client.v1.disputes.list(params={"payment_intent": pi.id}).data
    return client.v1.charges.retrieve(pi.latest_charge), dispute


def _platform_txns(client, source):
    return client.v1.balance_transactions.list(params={"source": source}).data


def test_a_dispute_withdraws_the_amount_and_a_15_fee_from_the_platform(
    client, sandbox_tools, receiver
):
    charge, dispute = _disputed(client)
    assert (dispute.status, dispute.amount, dispute.charge) == ("needs_response", 10000, charge.id)
    details = dispute.evidence_details
    assert (details.has_evidence, details.submission_count, details.past_due) == (False, 0, False)
    assert details.due_by == dispute.created + 7 * DAY
    [withdrawal] = _platform_txns(client, dispute.id)
    assert (withdrawal.type, withdrawal.reporting_category) == ("adjustment", "dispute")
    assert (withdrawal.amount, withdrawal.fee, withdrawal.net) == (-10000, 1500, -11500)
    assert [(d.type, d.amount) for d in withdrawal.fee_details] == [("stripe_fee", 1500)]
    assert [t.id for t in dispute.balance_transactions] == [withdrawal.id]
    sandbox_tools.flush()
    types = receiver.types("/platform")
    assert types.index("charge.dispute.created") < types.index("charge.dispute.funds_withdrawn")


def test_evidence_is_staged_then_submitted_once(client, sandbox_tools, receiver):
    _, dispute = _disputed(client)
    staged = client.v1.disputes.update(
        dispute.id,
        params={
            "evidence": {"product_description": "A coaching session", "customer_name": "Ada"},
            "metadata": {"case": "7"},
            "submit": False,
        },
    )
    assert staged.status == "needs_response"
    assert staged.evidence.product_description == "A coaching session"
    assert staged.evidence_details.has_evidence and staged.evidence_details.submission_count == 0
    submitted = client.v1.disputes.update(dispute.id)  # submit defaults to true
    assert submitted.status == "under_review"
    assert submitted.evidence_details.submission_count == 1
    assert submitted.evidence.customer_name == "Ada" and submitted.metadata["case"] == "7"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.disputes.update(dispute.id, params={"submit": True})
    assert err.value.param == "submit"
    assert client.v1.disputes.retrieve(dispute.id).evidence_details.submission_count == 1
    sandbox_tools.flush()
    updates = [e for e in receiver.events("/platform") if e["type"] == "charge.dispute.updated"]
    assert [e["data"]["object"]["status"] for e in updates] == ["needs_response", "under_review"]
    assert updates[-1]["data"]["previous_attributes"]["status"] == "needs_response"


def test_a_won_dispute_reinstates_the_funds_and_allows_a_refund(client, sandbox_tools, receiver):
    charge, dispute = _disputed(client)
    closed = sandbox_tools.control(f"disputes/{dispute.id}/close", outcome="won")
    assert closed["status"] == "won"
    won = client.v1.disputes.retrieve(dispute.id)
    withdrawal, reinstatement = won.balance_transactions
    assert (reinstatement.amount, reinstatement.fee, reinstatement.reporting_category) == (
        10000,
        0,
        "dispute_reversal",
    )
    assert sum(t.net for t in _platform_txns(client, dispute.id)) == -1500  # the fee stays
    refund = client.v1.refunds.create(params={"charge": charge.id, "amount": 100})
    assert refund.status == "succeeded"
    with pytest.raises(requests.HTTPError):  # a closed dispute stays closed
        sandbox_tools.control(f"disputes/{dispute.id}/close", outcome="lost")
    sandbox_tools.flush()
    types = receiver.types("/platform")
    assert types.index("charge.dispute.funds_reinstated") < types.index("charge.dispute.closed")


def test_the_clock_decides_lost_without_evidence_and_won_with_it(client, sandbox_tools, receiver):
    _, silent = _disputed(client)
    _, answered = _disputed(client)
    client.v1.disputes.update(answered.id, params={"evidence": {"uncategorized_text": "Held."}})
    sandbox_tools.control("clock/advance", seconds=13 * DAY)
    assert client.v1.disputes.retrieve(silent.id).status == "needs_response"
    sandbox_tools.control("clock/advance", seconds=DAY + 1)
    assert client.v1.disputes.retrieve(silent.id).status == "lost"
    assert client.v1.disputes.retrieve(answered.id).status == "won"
    assert len(_platform_txns(client, silent.id)) == 1
    assert len(_platform_txns(client, answered.id)) == 2
    sandbox_tools.flush()
    closed = [e for e in receiver.events("/platform") if e["type"] == "charge.dispute.closed"]
    assert sorted(e["data"]["object"]["status"] for e in closed) == ["lost", "won"]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.disputes.update(silent.id, params={"evidence": {"uncategorized_text": "Late"}})


def test_a_lost_destination_dispute_stays_with_the_platform_until_it_reverses_the_transfer(
    client, sandbox_tools, receiver
):
    coach = sandbox_tools.onboard()
    charge, dispute = _disputed(client, coach)
    as_coach = {"stripe_account": coach}
    sandbox_tools.control(f"disputes/{dispute.id}/close", outcome="lost")
    balance = client.v1.balance.retrieve(options=as_coach)
    assert (balance.pending[0].amount, balance.available[0].amount) == (8000, 0)

    reversal = client.v1.transfers.reversals.create(
        charge.transfer, params={"amount": 10000, "refund_application_fee": True}
    )
    assert reversal.amount == 10000
    balance = client.v1.balance.retrieve(options=as_coach)
    # Taken from available (now below zero), the fee handed back; pending is untouched.
    assert (balance.pending[0].amount, balance.available[0].amount) == (8000, -8000)
    assert client.v1.application_fees.retrieve(charge.application_fee).amount_refunded == 2000
    listed = client.v1.transfers.reversals.list(charge.transfer).data
    assert [r.id for r in listed] == [reversal.id]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.reversals.create(charge.transfer, params={"amount": 1})
    sandbox_tools.control("clock/advance", seconds=2 * DAY + 1)
    balance = client.v1.balance.retrieve(options=as_coach)
    assert (balance.pending[0].amount, balance.available[0].amount) == (0, 0)
    sandbox_tools.flush()
    assert "transfer.reversed" in receiver.types("/platform")
