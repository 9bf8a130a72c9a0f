"""Hosted Checkout in payment, setup and subscription modes, renewals and expiry."""

from __future__ import annotations

import pytest
import stripe

SUCCESS = "http://portal.test/done?session_id={CHECKOUT_SESSION_ID}"


def _payment_session(client, **extra):
    params = {
        "mode": "payment",
        "success_url": SUCCESS,
        "cancel_url": "http://portal.test/cancel",
        "client_reference_id": "booking-1",
        "metadata": {"booking_id": "1"},
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 10000,
                    "product_data": {"name": "Coaching session"},
                },
                "quantity": 1,
            }
        ],
        **extra,
    }
    return client.v1.checkout.sessions.create(params=params)


def test_checkout_destination_payment_end_to_end(client, http, sandbox_tools, receiver):
    coach = sandbox_tools.onboard()
    customer = client.v1.customers.create(params={"email": "m@example.com"})
    session = _payment_session(
        client,
        customer=customer.id,
        payment_intent_data={
            "application_fee_amount": 2000,
            "transfer_data": {"destination": coach},
            "metadata": {"booking_id": "1"},
        },
    )
    assert session.status == "open" and session.payment_intent is None
    page = http.get(session.url, timeout=5)
    assert "Coaching session" in page.text and "$100.00" in page.text
    assert '<label for="number">' in page.text and 'href="/checkout/pay/' in page.text
    done = sandbox_tools.pay(session.url)
    assert done.status_code == 303
    assert done.headers["Location"] == f"http://portal.test/done?session_id={session.id}"
    session = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge", "line_items"]}
    )
    assert session.status == "complete" and session.payment_status == "paid"
    pi = session.payment_intent
    assert pi.status == "succeeded" and pi.metadata["booking_id"] == "1"
    assert pi.latest_charge.transfer.startswith("tr_")
    assert session.line_items.data[0].description == "Coaching session"
    balance = client.v1.balance.retrieve(options={"stripe_account": coach})
    assert balance.pending[0].amount == 8000
    sandbox_tools.flush()
    platform = receiver.types("/platform")
    assert platform.index("payment_intent.succeeded") < platform.index("checkout.session.completed")


def test_declined_card_keeps_the_session_open(client, http, sandbox_tools, receiver):
    session = _payment_session(client)
    page = sandbox_tools.pay(session.url, "4000000000000002")
    assert page.status_code == 200 and "Your card was declined." in page.text
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    again = sandbox_tools.pay(session.url, "4000000000009995")
    assert "insufficient funds" in again.text
    assert sandbox_tools.pay(session.url).status_code == 303
    sandbox_tools.flush()
    assert receiver.types("/platform").count("payment_intent.payment_failed") == 2
    session = client.v1.checkout.sessions.retrieve(session.id)
    assert session.payment_status == "paid"


def test_cancel_link_returns_to_cancel_url(client, http):
    session = _payment_session(client)
    back = http.get(session.url + "/cancel", allow_redirects=False, timeout=5)
    assert back.headers["Location"] == "http://portal.test/cancel"
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_expire_by_api_and_by_clock(client, sandbox_tools, receiver):
    first = _payment_session(client)
    assert client.v1.checkout.sessions.expire(first.id).status == "expired"
    second = _payment_session(client)
    sandbox_tools.control("clock/advance", seconds=25 * 3600)
    assert client.v1.checkout.sessions.retrieve(second.id).status == "expired"
    sandbox_tools.flush()
    assert receiver.types("/platform").count("checkout.session.expired") == 2


def test_setup_mode_saves_the_card(client, sandbox_tools):
    customer = client.v1.customers.create(params={"email": "m@example.com"})
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "setup",
            "currency": "usd",
            "customer": customer.id,
            "success_url": SUCCESS,
            "cancel_url": "http://portal.test/cancel",
        }
    )
    assert sandbox_tools.pay(session.url, "5555555555554444").status_code == 303
    session = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["setup_intent"]})
    assert session.status == "complete" and session.setup_intent.status == "succeeded"
    pm = client.v1.payment_methods.retrieve(session.setup_intent.payment_method)
    assert pm.customer == customer.id and pm.card.brand == "mastercard"


def test_payment_with_setup_future_usage_saves_the_card(client, sandbox_tools):
    customer = client.v1.customers.create(params={"email": "m@example.com"})
    session = _payment_session(
        client, customer=customer.id, payment_intent_data={"setup_future_usage": "off_session"}
    )
    sandbox_tools.pay(session.url)
    cards = client.v1.customers.payment_methods.list(customer.id)
    assert len(cards.data) == 1


def _subscribe(client, sandbox_tools, number="4242424242424242"):
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer_email": "member@example.com",
            "success_url": SUCCESS,
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 1500,
                        "recurring": {"interval": "month"},
                        "product_data": {"name": "Membership"},
                    },
                    "quantity": 1,
                }
            ],
            "subscription_data": {"metadata": {"member": "7"}},
        }
    )
    result = sandbox_tools.pay(session.url, number)
    return client.v1.checkout.sessions.retrieve(session.id), result


def test_subscription_renews_and_fails_when_the_card_stops_working(client, sandbox_tools, receiver):
    session, result = _subscribe(client, sandbox_tools)
    assert result.status_code == 303
    sub = client.v1.subscriptions.retrieve(
        session.subscription, params={"expand": ["latest_invoice"]}
    )
    assert sub.status == "active" and sub.metadata["member"] == "7"
    item = sub["items"].data[0]
    assert item.price.unit_amount == 1500 and item.current_period_end > item.current_period_start
    first = sub.latest_invoice
    assert first.status == "paid" and first.amount_paid == 1500
    assert first.parent.subscription_details.subscription == sub.id
    assert first.status_transitions.paid_at is not None

    sandbox_tools.control("clock/advance", seconds=32 * 86400)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.latest_invoice != first.id
    assert client.v1.invoices.retrieve(sub.latest_invoice).status == "paid"

    bad = client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": sub.customer}
    )
    client.v1.subscriptions.update(sub.id, params={"default_payment_method": bad.id})
    sandbox_tools.control("clock/advance", seconds=32 * 86400)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "past_due"
    assert client.v1.invoices.retrieve(sub.latest_invoice).status == "open"
    sandbox_tools.flush()
    types = receiver.types("/platform")
    assert types.count("invoice.paid") == 2 and "invoice.payment_failed" in types
    assert "customer.subscription.created" in types and "customer.subscription.updated" in types


def test_subscription_checkout_with_declining_card_creates_nothing(client, sandbox_tools):
    session, result = _subscribe(client, sandbox_tools, "4000000000000341")
    assert result.status_code == 200 and "declined" in result.text
    assert session.status == "open" and session.subscription is None


def test_cancel_at_period_end_then_ends(client, sandbox_tools, receiver):
    session, _ = _subscribe(client, sandbox_tools)
    sub = client.v1.subscriptions.update(
        session.subscription, params={"cancel_at_period_end": True}
    )
    assert sub.cancel_at_period_end
    sandbox_tools.control("clock/advance", seconds=32 * 86400)
    assert client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    sandbox_tools.flush()
    assert "customer.subscription.deleted" in receiver.types()


def test_billing_portal_cancels_resumes_and_changes_card(client, http, sandbox_tools):
    session, _ = _subscribe(client, sandbox_tools)
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": session.customer, "return_url": "http://portal.test/account"}
    )
    page = http.get(portal.url, timeout=5)
    assert "Cancel at period end" in page.text
    http.post(
        portal.url, data={"action": "cancel", "subscription": session.subscription}, timeout=5
    )
    assert client.v1.subscriptions.retrieve(session.subscription).cancel_at_period_end
    http.post(
        portal.url, data={"action": "resume", "subscription": session.subscription}, timeout=5
    )
    assert not client.v1.subscriptions.retrieve(session.subscription).cancel_at_period_end
    http.post(
        portal.url,
        data={"action": "add_card", "number": "5555555555554444", "expiry": "01/33", "cvc": "123"},
        timeout=5,
    )
    customer = client.v1.customers.retrieve(session.customer)
    default = client.v1.payment_methods.retrieve(customer.invoice_settings.default_payment_method)
    assert default.card.last4 == "4444"
    back = http.get(portal.url + "/return", allow_redirects=False, timeout=5)
    assert back.headers["Location"] == "http://portal.test/account"


def test_invoice_pages(client, http, sandbox_tools):
    session, _ = _subscribe(client, sandbox_tools)
    invoice = client.v1.invoices.retrieve(session.invoice)
    assert "Membership" in http.get(invoice.hosted_invoice_url, timeout=5).text
    pdf = http.get(invoice.invoice_pdf, timeout=5)
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    listed = client.v1.invoices.list(params={"subscription": session.subscription})
    assert [i.id for i in listed.data] == [invoice.id]


@pytest.mark.parametrize("mode", ["payment", "subscription"])
def test_line_items_are_required(client, mode):
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.checkout.sessions.create(params={"mode": mode, "success_url": SUCCESS})
    assert err.value.param == "line_items"
