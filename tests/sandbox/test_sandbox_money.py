"""Destination charges' money, to the cent: transfer, application fee, reversals, fee refunds and
the balance transactions on both sides, as Stripe's Connect docs describe them."""

from __future__ import annotations

import pytest
import stripe

DAY = 86400


def _destination_charge(client, coach, amount, fee, currency="usd"):
    customer = client.v1.customers.create(params={"email": "mentee@example.com"})
    pi = client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": currency,
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "application_fee_amount": fee,
            "transfer_data": {"destination": coach},
        }
    )
    return client.v1.charges.retrieve(pi.latest_charge)


def _txns(client, account=None, **params):
    options = {"stripe_account": account} if account else {}
    return client.v1.balance_transactions.list(
        params={"limit": 100, **params}, options=options
    ).data


def _balance(client, account, currency):
    balance = client.v1.balance.retrieve(options={"stripe_account": account})
    pending = next((b.amount for b in balance.pending if b.currency == currency), 0)
    available = next((b.amount for b in balance.available if b.currency == currency), 0)
    return pending, available


def test_the_whole_charge_is_transferred_and_the_fee_collected_back(
    client, sandbox_tools, receiver
):
    coach = sandbox_tools.onboard()
    charge = _destination_charge(client, coach, 10000, 2000)

    transfer = client.v1.transfers.retrieve(charge.transfer)
    assert (transfer.amount, transfer.destination) == (10000, coach)
    fee = client.v1.application_fees.retrieve(
        charge.application_fee, params={"expand": ["balance_transaction"]}
    )
    assert (fee.amount, fee.account, fee.charge) == (2000, coach, charge.id)
    fee_txn = fee.balance_transaction
    charge_txn = client.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert (fee_txn.type, fee_txn.amount, fee_txn.net, fee_txn.source) == (
        "application_fee",
        2000,
        2000,
        fee.id,
    )
    assert fee_txn.reporting_category == "platform_earning"
    assert fee_txn.available_on == charge_txn.available_on and fee_txn.status == "pending"
    [transfer_txn] = _txns(client, type="transfer")
    assert (transfer_txn.amount, transfer_txn.net, transfer_txn.source) == (
        -10000,
        -10000,
        transfer.id,
    )
    assert (charge_txn.amount, charge_txn.fee, charge_txn.net) == (10000, 320, 9680)
    assert [d.type for d in charge_txn.fee_details] == ["stripe_fee"]

    [payment] = _txns(client, coach)
    assert (payment.type, payment.source, payment.reporting_category) == (
        "payment",
        transfer.destination_payment,
        "charge",
    )
    assert payment.source.startswith("py_")
    assert (payment.amount, payment.fee, payment.net, payment.status) == (
        10000,
        2000,
        8000,
        "pending",
    )
    [detail] = payment.fee_details
    assert (detail.type, detail.amount, detail.application) == (
        "application_fee",
        2000,
        fee.application,
    )
    assert _balance(client, coach, "usd") == (8000, 0)
    sandbox_tools.control("clock/advance", seconds=2 * DAY + 1)
    assert _balance(client, coach, "usd") == (0, 8000)

    sandbox_tools.flush()
    platform = receiver.types("/platform")
    assert platform.index("charge.succeeded") < platform.index("transfer.created")
    assert platform.index("transfer.created") < platform.index("application_fee.created")
    created = next(
        e for e in receiver.events("/platform") if e["type"] == "application_fee.created"
    )
    assert created["data"]["object"]["id"] == fee.id


@pytest.mark.parametrize(
    ("currency", "amount", "fee", "refund", "fee_refund"),
    [
        ("usd", 9500, 1639, 4750, 820),  # 1639 * 4750 / 9500 = 819.5, half up
        ("usd", 3777, 755, 19, 4),  # 3.798 -> 4
        ("usd", 12000, 2400, 7, 1),  # 1.4 -> 1
        ("jpy", 4499, 900, 1000, 200),  # zero-decimal: 200.04 yen -> 200
        ("eur", 13500, 2700, 4884, 977),  # 976.8 -> 977
    ],
)
def test_a_partial_refund_reverses_the_transfer_and_refunds_the_fee_in_proportion(
    client, sandbox_tools, receiver, currency, amount, fee, refund, fee_refund
):
    coach = sandbox_tools.onboard()
    charge = _destination_charge(client, coach, amount, fee, currency)
    created = client.v1.refunds.create(
        params={
            "charge": charge.id,
            "amount": refund,
            "reverse_transfer": True,
            "refund_application_fee": True,
            "expand": ["transfer_reversal"],
        }
    )
    reversal = created.transfer_reversal
    assert (reversal.object, reversal.amount, reversal.source_refund) == (
        "transfer_reversal",
        refund,
        created.id,
    )
    assert client.v1.transfers.retrieve(charge.transfer).amount_reversed == refund
    application_fee = client.v1.application_fees.retrieve(charge.application_fee)
    assert application_fee.amount_refunded == fee_refund
    [fee_refund_obj] = application_fee.refunds.data
    assert (fee_refund_obj.object, fee_refund_obj.amount) == ("fee_refund", fee_refund)
    listed = client.v1.application_fees.refunds.list(charge.application_fee).data
    assert [r.id for r in listed] == [fee_refund_obj.id]

    platform = {t.type: t for t in _txns(client)}
    assert (platform["refund"].amount, platform["refund"].source) == (-refund, created.id)
    back = platform["transfer_refund"]
    assert (back.amount, back.source, back.reporting_category) == (
        refund,
        reversal.id,
        "transfer_reversal",
    )
    given = platform["application_fee_refund"]
    assert (given.amount, given.source, given.reporting_category) == (
        -fee_refund,
        fee_refund_obj.id,
        "platform_earning_refund",
    )
    coach_side = {t.type: t for t in _txns(client, coach)}
    taken = coach_side["payment_refund"]
    assert (taken.amount, taken.net, taken.source, taken.reporting_category) == (
        -refund,
        -refund,
        reversal.destination_payment_refund,
        "refund",
    )
    returned = coach_side["application_fee_refund"]
    assert (returned.amount, returned.source) == (fee_refund, fee_refund_obj.id)
    # The payment's net stays pending; the refund comes out of available, which goes negative.
    assert _balance(client, coach, currency) == (amount - fee, fee_refund - refund)

    sandbox_tools.flush()
    assert {"transfer.reversed", "application_fee.refunded", "charge.refunded"} <= set(
        receiver.types("/platform")
    )


def test_partial_refunds_add_up_to_the_transfer_and_the_fee_never_more(client, sandbox_tools):
    coach = sandbox_tools.onboard()
    charge = _destination_charge(client, coach, 3000, 1001)
    for _ in range(3):
        client.v1.refunds.create(
            params={
                "charge": charge.id,
                "amount": 1000,
                "reverse_transfer": True,
                "refund_application_fee": True,
            }
        )
    fee = client.v1.application_fees.retrieve(charge.application_fee)
    # 1001 * 1000 / 3000 = 333.67 rounds to 334 twice; the refund that completes the charge's
    # refund takes what is left (333), so the fee refunds add up to the fee.
    assert [r.amount for r in reversed(fee.refunds.data)] == [334, 334, 333]
    assert fee.amount_refunded == 1001 and fee.refunded
    transfer = client.v1.transfers.retrieve(charge.transfer)
    assert [r.amount for r in transfer.reversals.data] == [1000, 1000, 1000]
    assert transfer.reversed and transfer.amount_reversed == 3000
    assert _balance(client, coach, "usd") == (1999, -1999)
    sandbox_tools.control("clock/advance", seconds=2 * DAY + 1)
    assert _balance(client, coach, "usd") == (0, 0)


def test_a_refund_without_reverse_transfer_leaves_the_connected_account_alone(
    client, sandbox_tools
):
    coach = sandbox_tools.onboard()
    charge = _destination_charge(client, coach, 10000, 2000)
    refund = client.v1.refunds.create(params={"charge": charge.id, "amount": 2500})
    assert refund.transfer_reversal is None
    assert client.v1.transfers.retrieve(charge.transfer).amount_reversed == 0
    assert client.v1.application_fees.retrieve(charge.application_fee).amount_refunded == 0
    assert _balance(client, coach, "usd") == (8000, 0)


def test_balance_transactions_filter_by_type_source_and_page_for_a_connected_account(
    client, sandbox_tools
):
    coach = sandbox_tools.onboard()
    first = _destination_charge(client, coach, 10000, 2000)
    second = _destination_charge(client, coach, 5000, 1000)
    client.v1.refunds.create(params={"charge": second.id, "amount": 5000, "reverse_transfer": True})
    as_coach = {"stripe_account": coach}
    payments = _txns(client, coach, type="payment")
    assert [t.amount for t in payments] == [5000, 10000]
    payment = client.v1.transfers.retrieve(first.transfer).destination_payment
    [only] = _txns(client, coach, source=payment)
    assert (only.source, only.net) == (payment, 8000)
    page = client.v1.balance_transactions.list(params={"limit": 2}, options=as_coach)
    assert page.has_more and len(page.data) == 2
    rest = client.v1.balance_transactions.list(
        params={"limit": 2, "starting_after": page.data[-1].id}, options=as_coach
    )
    assert not rest.has_more and len(rest.data) == 1
    assert {t.id for t in page.data + rest.data} == {t.id for t in _txns(client, coach)}
    assert [t.type for t in _txns(client, type="transfer_refund")] == ["transfer_refund"]
    assert _txns(client, coach, type="transfer") == []


def test_a_disputed_charge_cannot_be_refunded(client, sandbox_tools):
    customer = client.v1.customers.create(params={"email": "m@example.com"})
    pi = client.v1.payment_intents.create(
        params={
            "amount": 2500,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_createDispute",
            "confirm": True,
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.refunds.create(params={"payment_intent": pi.id})
    assert err.value.code == "charge_disputed"
    assert "charged back" in err.value.user_message
    assert client.v1.charges.retrieve(pi.latest_charge).amount_refunded == 0
    assert client.v1.refunds.list(params={"payment_intent": pi.id}).data == []
