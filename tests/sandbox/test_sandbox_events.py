"""The events the sandbox sends: only types Stripe has, on the right endpoint, in Stripe's order."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import stripe

from stripe_sandbox import events

SANDBOX_SOURCE = Path(events.__file__).parent
STRIPE_EVENT_TYPES = set(typing.get_args(stripe.Event.__annotations__["type"]))


def _calls(name: str) -> list[ast.Call]:
    calls = []
    for path in SANDBOX_SOURCE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                if getattr(func, "attr", None) == name or getattr(func, "id", None) == name:
                    calls.append(node)
    return calls


def _emitted_in_source() -> set[str]:
    """Every event type the sandbox's code passes to `emit` or payments' `_emit_updated`.

    A type that is not a string literal shows up as its source text, so it fails the check,
    unless it is `type_`: a helper passing its own caller's literal along.
    """
    found: set[str] = set()
    for call in _calls("emit"):
        if any(isinstance(a, ast.Name) and a.id == "type_" for a in call.args):
            continue
        literals = [a.value for a in call.args if isinstance(a, ast.Constant)]
        found.add(literals[0] if literals else ast.unparse(call))
    for call in _calls("_emit_updated"):  # payments' helper takes the type as a literal
        found |= {a.value for a in call.args if isinstance(a, ast.Constant)}
    return found


def test_every_type_the_sandbox_can_emit_is_a_stripe_event_type():
    assert set() == events.EVENT_TYPES - STRIPE_EVENT_TYPES
    assert "payment.created" not in events.EVENT_TYPES


def test_the_list_of_types_is_what_the_code_emits():
    in_code = _emitted_in_source()
    assert in_code - events.EVENT_TYPES == set()
    assert events.EVENT_TYPES - in_code == set()


def test_emit_refuses_a_type_stripe_does_not_have(sandbox):
    try:
        sandbox.sandbox.emit("payment.created", {"id": "py_1", "object": "charge"})
    except ValueError as exc:
        assert "payment.created" in str(exc)
    else:
        raise AssertionError("an unknown event type was emitted")
    assert sandbox.sandbox.store.select("event", None) == []


def _destination_checkout(client, sandbox_tools, coach: str, number: str = "4242424242424242"):
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "http://p.test/ok",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 10000,
                        "product_data": {"name": "Session"},
                    },
                    "quantity": 1,
                }
            ],
            "payment_intent_data": {
                "application_fee_amount": 2000,
                "transfer_data": {"destination": coach},
            },
        }
    )
    sandbox_tools.pay(session.url, number)
    sandbox_tools.flush()
    return session


def test_a_destination_charge_comes_before_its_transfer_and_fee(client, sandbox_tools, receiver):
    coach = sandbox_tools.onboard()
    sandbox_tools.flush()
    receiver.received.clear()
    _destination_checkout(client, sandbox_tools, coach)
    platform = receiver.types("/platform")
    assert platform.index("charge.succeeded") < platform.index("payment_intent.succeeded")
    assert platform.index("payment_intent.succeeded") < platform.index("transfer.created")
    assert platform.index("payment_intent.succeeded") < platform.index("application_fee.created")
    assert platform.index("charge.succeeded") < platform.index("charge.updated")
    assert platform[-1] == "checkout.session.completed"
    succeeded = receiver.events("/platform")[platform.index("charge.succeeded")]
    updated = receiver.events("/platform")[platform.index("charge.updated")]
    assert succeeded["data"]["object"]["balance_transaction"] is None
    assert updated["data"]["object"]["balance_transaction"].startswith("txn_")
    assert updated["data"]["previous_attributes"] == {"balance_transaction": None}
    connect = receiver.events("/connect")
    assert [e["type"] for e in connect] == ["charge.succeeded"]
    payment = connect[0]["data"]["object"]
    assert payment["id"].startswith("py_") and connect[0]["account"] == coach


def test_a_subscription_is_created_before_its_first_invoice_is_paid(
    client, sandbox_tools, receiver
):
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer_email": "m@example.com",
            "success_url": "http://p.test",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 900,
                        "recurring": {"interval": "month"},
                        "product_data": {"name": "Membership"},
                    },
                    "quantity": 1,
                }
            ],
        }
    )
    sandbox_tools.pay(session.url)
    sandbox_tools.flush()
    types = receiver.types("/platform")
    order = [
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "customer.subscription.updated",
        "checkout.session.completed",
    ]
    assert [types.index(t) for t in order] == sorted(types.index(t) for t in order)
    assert "product.created" not in types and "price.created" not in types  # inline price_data
    by_type = {e["type"]: e for e in receiver.events("/platform")}
    assert by_type["customer.subscription.created"]["data"]["object"]["status"] == "incomplete"
    activated = by_type["customer.subscription.updated"]["data"]
    assert activated["object"]["status"] == "active"
    assert activated["previous_attributes"]["status"] == "incomplete"
    assert client.v1.subscriptions.retrieve(activated["object"]["id"]).status == "active"


def test_products_and_prices_made_by_the_api_are_announced(client, sandbox_tools, receiver):
    product = client.v1.products.create(params={"name": "Coaching"})
    price = client.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": 5000}
    )
    sandbox_tools.flush()
    got = [(e["type"], e["data"]["object"]["id"]) for e in receiver.events("/platform")]
    assert got == [("product.created", product.id), ("price.created", price.id)]


def test_onboarding_announces_the_bank_account_and_capabilities_to_connect(
    client, sandbox_tools, receiver
):
    coach = sandbox_tools.onboard()
    sandbox_tools.flush()
    connect = receiver.events("/connect")
    assert all(e["account"] == coach for e in connect)
    assert receiver.events("/platform") == []
    bank = [e for e in connect if e["type"] == "account.external_account.created"]
    assert len(bank) == 1 and bank[0]["data"]["object"]["object"] == "bank_account"
    capabilities = {
        e["data"]["object"]["id"]: e["data"] for e in connect if e["type"] == "capability.updated"
    }
    assert set(capabilities) == {"card_payments", "transfers"}
    for data in capabilities.values():
        assert data["object"]["status"] == "active" and data["object"]["account"] == coach
        assert data["previous_attributes"] == {"status": "inactive"}


def test_a_payout_is_updated_as_it_is_paid(client, sandbox_tools, receiver):
    coach = sandbox_tools.onboard()
    _destination_checkout(client, sandbox_tools, coach)
    sandbox_tools.control("clock/advance", seconds=3 * 86400)
    client.v1.payouts.create(
        params={"amount": 1000, "currency": "usd"}, options={"stripe_account": coach}
    )
    sandbox_tools.control("clock/advance", seconds=3 * 86400)
    sandbox_tools.flush()
    payout_events = [e for e in receiver.events("/connect") if e["type"].startswith("payout.")]
    assert [e["type"] for e in payout_events] == ["payout.created", "payout.updated", "payout.paid"]
    assert payout_events[1]["data"]["previous_attributes"] == {"status": "pending"}
    assert payout_events[1]["data"]["object"]["status"] == "paid"


def test_the_receipt_url_is_a_page_of_the_sandbox(client, sandbox_tools, http):
    coach = sandbox_tools.onboard()
    session = _destination_checkout(client, sandbox_tools, coach)
    session = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge"]}
    )
    charge = session.payment_intent.latest_charge
    page = http.get(charge.receipt_url, timeout=10)
    assert page.status_code == 200
    assert "$100.00" in page.text and "4242" in page.text
    assert "4242424242424242" not in page.text
    missing = http.get(charge.receipt_url.replace(charge.id, "ch_nothing"), timeout=10)
    assert missing.status_code == 404
