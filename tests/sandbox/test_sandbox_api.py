"""The sandbox answers like Stripe's API: keys, unknown parameters, idempotency, lists, expand."""

from __future__ import annotations

import pytest
import requests
import stripe


def test_missing_or_live_key_is_refused(sandbox):
    assert requests.get(sandbox.url + "/v1/customers", timeout=5).status_code == 401
    live = stripe.StripeClient("sk_live_nope", base_addresses={"api": sandbox.url})
    with pytest.raises(stripe.AuthenticationError):
        live.v1.customers.list()


def test_unknown_parameter_is_named_like_stripe_does(client):
    with pytest.raises(stripe.InvalidRequestError) as top:
        client.v1.customers.create(params={"emial": "a@example.com"})  # type: ignore[typeddict-unknown-key]
    assert top.value.param == "emial"
    assert str(top.value.user_message) == "Received unknown parameter: emial"
    with pytest.raises(stripe.InvalidRequestError) as nested:
        client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "success_url": "http://portal.test/ok",
                "line_items": [{"price_data": {"currency": "usd", "amount": 5}, "quantity": 1}],  # type: ignore[typeddict-unknown-key]
            }
        )
    assert nested.value.param == "line_items[0][price_data][amount]"


def test_idempotency_key_replays_and_conflicts(sandbox):
    headers = {"Authorization": "Bearer sk_test_x", "Idempotency-Key": "booking-42"}
    first = requests.post(
        sandbox.url + "/v1/customers", data={"email": "a@example.com"}, headers=headers, timeout=5
    )
    again = requests.post(
        sandbox.url + "/v1/customers", data={"email": "a@example.com"}, headers=headers, timeout=5
    )
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = requests.post(
        sandbox.url + "/v1/customers", data={"email": "b@example.com"}, headers=headers, timeout=5
    )
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"


def test_idempotent_replay_through_the_library(client):
    options = {"idempotency_key": "refund-7"}
    a = client.v1.customers.create(params={"email": "x@example.com"}, options=options)
    b = client.v1.customers.create(params={"email": "x@example.com"}, options=options)
    assert a.id == b.id
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(params={"email": "y@example.com"}, options=options)


def test_lists_paginate_newest_first_and_filter_by_email(client):
    ids = [client.v1.customers.create(params={"email": f"c{i}@example.com"}).id for i in range(5)]
    page = client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in page.data] == ids[::-1][:2] and page.has_more
    rest = client.v1.customers.list(params={"limit": 10, "starting_after": page.data[-1].id})
    assert [c.id for c in rest.data] == ids[::-1][2:] and not rest.has_more
    assert [c.id for c in page.auto_paging_iter()] == ids[::-1]
    found = client.v1.customers.list(params={"email": "c3@example.com"})
    assert [c.id for c in found.data] == [ids[3]]


def test_missing_object_is_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.payment_intents.retrieve("pi_nope")
    assert err.value.code == "resource_missing" and err.value.http_status == 404


def test_metadata_update_and_default_payment_method(client):
    customer = client.v1.customers.create(params={"metadata": {"user": "1", "drop": "x"}})
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    updated = client.v1.customers.update(
        customer.id,
        params={"metadata": {"drop": ""}, "invoice_settings": {"default_payment_method": pm.id}},
    )
    assert updated.metadata.to_dict() == {"user": "1"}
    assert updated.invoice_settings.default_payment_method == pm.id
    listed = client.v1.payment_methods.list(params={"customer": customer.id, "type": "card"})
    assert [m.id for m in listed.data] == [pm.id]
    assert listed.data[0].card.last4 == "4242"


def test_errors_keep_stripes_type_code_param_and_message(client, sandbox_tools):
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.create(params={"email": "m@example.com", "colour": "blue"})  # type: ignore[typeddict-unknown-key]
    assert (err.value.http_status, err.value.code, err.value.param) == (
        400,
        "parameter_unknown",
        "colour",
    )
    assert err.value.user_message == "Received unknown parameter: colour"
    assert err.value.error.type == "invalid_request_error"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.payment_intents.create(
            params={"amount": 900, "currency": "usd", "payment_method_data": {"tpye": "card"}}  # type: ignore[typeddict-unknown-key]
        )
    assert (err.value.code, err.value.param) == ("parameter_unknown", "payment_method_data[tpye]")
    assert client.v1.customers.list().data == []  # nothing was made
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.refunds.create(params={"charge": "ch_nope"})
    assert (err.value.http_status, err.value.code, err.value.param) == (
        404,
        "resource_missing",
        "charge",
    )
    assert err.value.user_message == "No such charge: 'ch_nope'"


def test_prices_list_honours_lookup_keys_active_product_currency_and_pages(client):
    product = client.v1.products.create(params={"name": "Membership"})
    other = client.v1.products.create(params={"name": "Other"})

    def price(key, currency="usd", active=True, product_id=product.id):
        return client.v1.prices.create(
            params={
                "product": product_id,
                "currency": currency,
                "unit_amount": 900,
                "recurring": {"interval": "month"},
                "lookup_key": key,
                "active": active,
            }
        ).id

    monthly, yearly = price("monthly"), price("yearly")
    euro, retired = price("monthly_eur", "eur"), price("old", active=False)
    elsewhere = price("other", product_id=other.id)

    def ids(**params):
        return [p.id for p in client.v1.prices.list(params={"limit": 100, **params}).data]

    assert ids(lookup_keys=["monthly", "old"]) == [retired, monthly]
    assert ids(lookup_keys=["nothing"]) == []
    assert ids(active=False) == [retired]
    assert ids(active=True) == [elsewhere, euro, yearly, monthly]
    assert ids(product=other.id) == [elsewhere]
    assert ids(currency="eur") == [euro]
    first = client.v1.prices.list(params={"limit": 2})
    assert [p.id for p in first.data] == [elsewhere, retired] and first.has_more
    second = client.v1.prices.list(params={"limit": 2, "starting_after": retired})
    assert [p.id for p in second.data] == [euro, yearly] and second.has_more
