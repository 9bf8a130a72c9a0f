"""Every key the sandbox returns exists on the stripe library's resource class for that object.

The library's classes are generated from Stripe's OpenAPI spec, so a key they do not declare is
a key real Stripe would not send; the portal must not come to rely on it.
"""

from __future__ import annotations

import typing
from typing import Any

import stripe
from stripe._list_object import ListObject
from stripe._stripe_object import StripeObject

from stripe_sandbox import events
from stripe_sandbox.store import render
from tests.sandbox import stripe_schema

CLASSES: dict[str, type[StripeObject]] = {
    cls.OBJECT_NAME: cls  # type: ignore[attr-defined]
    for cls in (
        stripe.Account,
        stripe.AccountLink,
        stripe.ApplicationFee,
        stripe.ApplicationFeeRefund,
        stripe.Balance,
        stripe.BalanceTransaction,
        stripe.BankAccount,
        stripe.Charge,
        stripe.Customer,
        stripe.Dispute,
        stripe.Event,
        stripe.Invoice,
        stripe.InvoiceLineItem,
        stripe.InvoicePayment,
        stripe.LineItem,
        stripe.LoginLink,
        stripe.PaymentIntent,
        stripe.PaymentMethod,
        stripe.Payout,
        stripe.Price,
        stripe.Product,
        stripe.Refund,
        stripe.SetupIntent,
        stripe.Subscription,
        stripe.SubscriptionItem,
        stripe.Transfer,
        stripe.TransferReversal,
        stripe.billing_portal.Session,
        stripe.checkout.Session,
    )
}


def _annotations(cls: type) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        merged.update(getattr(klass, "__annotations__", {}))
    return merged


def _classes_in(tp: Any) -> list[type]:
    """StripeObject classes mentioned by an annotation (through Optional, List, ListObject)."""
    found: list[type] = []
    if isinstance(tp, type) and issubclass(tp, StripeObject) and tp is not ListObject:
        found.append(tp)
    for arg in typing.get_args(tp):
        found += _classes_in(arg)
    return found


def unknown_keys(value: Any, cls: type | None, path: str) -> list[str]:
    if isinstance(value, list):
        return [k for i, v in enumerate(value) for k in unknown_keys(v, cls, f"{path}[{i}]")]
    if not isinstance(value, dict):
        return []
    if value.get("object") == "list":
        return [
            k
            for i, v in enumerate(value["data"])
            for k in unknown_keys(v, cls, f"{path}.data[{i}]")
        ]
    if isinstance(value.get("object"), str) and value["object"] in CLASSES:
        cls = CLASSES[value["object"]]
    if cls is None:
        return []
    declared = _annotations(cls)
    problems = []
    for key, child in value.items():
        if key not in declared:
            problems.append(f"{path}.{key} (not on {cls.__qualname__})")
            continue
        if key in ("metadata", "previous_attributes"):
            continue
        nested = _classes_in(declared[key])
        problems += unknown_keys(child, nested[0] if nested else None, f"{path}.{key}")
    return problems


NOT_DRIVEN = {
    "invoice.payment_failed",  # a renewal declined: tests/sandbox/test_sandbox_checkout.py
    "setup_intent.setup_failed",  # a card refused at setup
    "payout.failed",
    "payout.canceled",
}
"""Event types the flow below does not reach (their objects are the ones it does check)."""


def drive_every_flow(client, sandbox_tools) -> list[Any]:
    """Every flow the portal uses, through the library; the responses it got back."""
    coach = sandbox_tools.onboard()
    customer = client.v1.customers.create(params={"email": "m@example.com"})
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer": customer.id,
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
                "setup_future_usage": "off_session",
            },
        }
    )
    sandbox_tools.pay(session.url, "4000000000000259")
    session = client.v1.checkout.sessions.retrieve(
        session.id,
        params={
            "expand": ["payment_intent.latest_charge.balance_transaction", "line_items", "customer"]
        },
    )
    charge = session.payment_intent.latest_charge
    [dispute] = client.v1.disputes.list(params={"charge": charge.id}).data
    answered = client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "The session took place."}}
    )
    sandbox_tools.control(f"disputes/{dispute.id}/close", outcome="won")  # refundable again
    refund = client.v1.refunds.create(
        params={
            "charge": charge.id,
            "amount": 5000,
            "reverse_transfer": True,
            "refund_application_fee": True,
        }
    )
    failed = client.v1.refunds.create(params={"charge": charge.id, "amount": 100})
    sandbox_tools.control(f"refunds/{failed.id}/fail", reason="expired_or_canceled_card")
    sub_session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
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
    sandbox_tools.pay(sub_session.url)
    sub_session = client.v1.checkout.sessions.retrieve(sub_session.id)
    setup = client.v1.checkout.sessions.create(
        params={
            "mode": "setup",
            "currency": "usd",
            "customer": customer.id,
            "success_url": "http://p.test",
        }
    )
    sandbox_tools.pay(setup.url)
    sandbox_tools.control("clock/advance", seconds=3 * 86400)
    as_coach = {"stripe_account": coach}
    payout = client.v1.payouts.create(params={"amount": 1000, "currency": "usd"}, options=as_coach)
    product = client.v1.products.create(params={"name": "Coaching"})
    price = client.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": 5000}
    )
    customer = client.v1.customers.update(
        customer.id, params={"name": "Ada Lovelace", "metadata": {"user_id": "7"}}
    )
    declined = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "http://p.test/ok",
            "line_items": [{"price": price.id, "quantity": 1}],
        }
    )
    sandbox_tools.pay(declined.url, "4000000000000002")
    expired = client.v1.checkout.sessions.expire(declined.id)
    saved = client.v1.payment_methods.list(params={"customer": customer.id}).data
    off_session = client.v1.payment_intents.create(
        params={
            "amount": 4200,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": saved[0].id,
            "confirm": True,
            "off_session": True,
        }
    )
    needs_action = client.v1.payment_intents.create(
        params={
            "amount": 4200,
            "currency": "usd",
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
            "return_url": "http://p.test/back",
        }
    )
    canceled = client.v1.payment_intents.cancel(needs_action.id)
    client.v1.payment_methods.detach(saved[-1].id)
    subscription = client.v1.subscriptions.update(
        sub_session.subscription, params={"cancel_at_period_end": True}
    )
    sandbox_tools.control("clock/advance", seconds=40 * 86400)  # payouts arrive, periods end
    samples = [
        product,
        price,
        expired,
        off_session,
        canceled,
        subscription,
        client.v1.invoices.list(params={"customer": customer.id}),
        client.v1.payouts.list(options=as_coach),
        client.v1.refunds.list(),
        client.v1.application_fees.list(),
        client.v1.transfers.list(),
        client.v1.checkout.sessions.line_items.list(session.id),
        session,
        refund,
        customer,
        client.v1.checkout.sessions.retrieve(setup.id, params={"expand": ["setup_intent"]}),
        client.v1.subscriptions.retrieve(
            sub_session.subscription, params={"expand": ["latest_invoice"]}
        ),
        client.v1.transfers.retrieve(charge.transfer),
        client.v1.application_fees.retrieve(charge.application_fee),
        client.v1.disputes.list(),
        answered,
        client.v1.accounts.retrieve(coach),
        client.v1.account_links.create(
            params={
                "account": coach,
                "type": "account_onboarding",
                "refresh_url": "http://p.test",
                "return_url": "http://p.test",
            }
        ),
        client.v1.accounts.login_links.create(coach),
        client.v1.billing_portal.sessions.create(params={"customer": customer.id}),
        client.v1.balance.retrieve(options=as_coach),
        client.v1.balance_transactions.list(options=as_coach),
        client.v1.balance_transactions.list(),
        client.v1.charges.list(options=as_coach),
        payout,
        client.v1.payment_methods.list(params={"customer": customer.id}),
        client.v1.prices.list(),
        client.v1.products.list(),
        client.v1.events.list(params={"limit": 100}),
        client.v1.events.list(params={"limit": 100}, options=as_coach),
    ]
    return samples


def test_every_returned_key_is_declared_by_the_stripe_library(client, sandbox_tools):
    samples = drive_every_flow(client, sandbox_tools)
    problems = [
        p for s in samples for p in unknown_keys(s.to_dict(), None, str(s.to_dict().get("object")))
    ]
    assert problems == []


def test_every_response_and_event_has_the_fields_types_and_values_stripe_sends(
    client, sandbox_tools, sandbox
):
    samples = [s.to_dict() for s in drive_every_flow(client, sandbox_tools)]
    sandbox_tools.flush()
    store = sandbox.sandbox.store
    every_event = [obj for oid, obj in list(store.objects.items()) if obj.get("object") == "event"]
    emitted = {e["type"] for e in every_event}
    assert events.EVENT_TYPES - emitted == NOT_DRIVEN
    found = [p for s in samples for p in stripe_schema.problems(s)]
    found += [p for e in every_event for p in stripe_schema.problems(render(e), e["type"])]
    assert sorted(set(found)) == []


def test_the_schema_check_finds_what_stripe_would_not_send():
    payout = {
        "id": "po_1",
        "object": "payout",
        "amount": "10.00",
        "arrival_date": 1,
        "automatic": False,
        "currency": "usd",
        "livemode": False,
        "method": "standard",
        "reconciliation_status": "sometimes",
        "source_type": "card",
        "status": None,
        "type": "bank_account",
    }
    found = stripe_schema.problems({"object": "list", "data": [payout]})
    assert sorted(found) == [
        "list.data[0].amount is str '10.00', not int",
        "list.data[0].created is missing",
        "list.data[0].reconciliation_status is 'sometimes', not one of "
        "['completed', 'in_progress', 'not_applicable']",
        "list.data[0].status is null but is never null at Stripe",
    ]
    assert stripe_schema.problems({"object": "account", "id": "acct_1", "settings": {}})
