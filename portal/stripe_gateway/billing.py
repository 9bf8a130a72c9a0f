"""Stripe calls for mentees' billing: saved cards, paying with one, the membership plan.

Everything comes back as plain dicts. Every POST carries an idempotency key derived from the
local record it is about (the user, the booking, the plan's amount), so a double click or a retry
makes one Stripe object.

- Checkout in `setup` mode (save a card) and `subscription` mode (become a member); a finished
  session is read back with `checkout.retrieve_session`, as a booking's is.
- Payment methods: list, retrieve, detach; the customer's default card for invoices.
- A PaymentIntent confirmed off-session with a saved card: the same destination charge and
  application fee as the booking's Checkout.
- Subscriptions: retrieve; cancel at period end and resume. The billing portal session.
- Invoices: the payments made towards one; pay an open one with a card.
- The membership plan's prices: found by `lookup_key`, created on first need.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from stripe.params import SubscriptionUpdateParams

from portal.models import Booking, User
from portal.money import to_minor_units
from portal.stripe_gateway import call, client, idempotency_key, to_plain

Plain = dict[str, Any]


# --- Checkout: setup and subscription modes -------------------------------------------------


def create_setup_session(
    user: User, *, customer_id: str, attempt: str, success_url: str, cancel_url: str
) -> Plain:
    """A Checkout Session in `setup` mode: the mentee saves a card and pays nothing.

    `attempt` names one press of "Add a card" (a token from the page), so a double click opens
    one session and a later press a new one.
    """
    metadata = {"user_id": str(user.id), "purpose": "save_card"}
    session = call(
        "checkout.sessions.create",
        client().v1.checkout.sessions.create,
        params={
            "mode": "setup",
            "customer": customer_id,
            "allowed_payment_method_types": ["card"],
            "client_reference_id": str(user.id),
            "metadata": metadata,
            "setup_intent_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
        },
        options={"idempotency_key": idempotency_key("card-setup", user, attempt)},
    )
    return to_plain(session)


def create_subscription_session(
    user: User,
    *,
    customer_id: str,
    price_id: str,
    attempt: str,
    success_url: str,
    cancel_url: str,
) -> Plain:
    """A Checkout Session in `subscription` mode for the membership price `price_id`."""
    metadata = {"user_id": str(user.id), "purpose": "membership"}
    session = call(
        "checkout.sessions.create",
        client().v1.checkout.sessions.create,
        params={
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": str(user.id),
            "line_items": [{"price": price_id, "quantity": 1}],
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
        },
        options={"idempotency_key": idempotency_key("membership-checkout", user, attempt)},
    )
    return to_plain(session)


def retrieve_setup_intent(setup_intent_id: str) -> Plain:
    intent = call("setup_intents.retrieve", client().v1.setup_intents.retrieve, setup_intent_id)
    return to_plain(intent)


# --- payment methods --------------------------------------------------------------------------


def list_payment_methods(customer_id: str) -> list[Plain]:
    """The customer's saved cards (Stripe's first page of 100 is plenty for one person)."""
    page = call(
        "customers.payment_methods.list",
        client().v1.customers.payment_methods.list,
        customer_id,
        params={"type": "card", "limit": 100},
    )
    return to_plain(page.data)


def retrieve_payment_method(payment_method_id: str) -> Plain:
    method = call(
        "payment_methods.retrieve", client().v1.payment_methods.retrieve, payment_method_id
    )
    return to_plain(method)


def detach_payment_method(payment_method_id: str) -> Plain:
    method = call(
        "payment_methods.detach",
        client().v1.payment_methods.detach,
        payment_method_id,
        options={"idempotency_key": f"card-detach:{payment_method_id}"},
    )
    return to_plain(method)


def _change_key(kind: str, *parts: object) -> str:
    """A key for one change of a setting: retries of this call share it, a later change does not.

    A key made only of the ids would make switching back to an earlier card a replay of the
    first switch, which Stripe answers without doing anything.
    """
    return ":".join([kind, *(str(p) for p in parts), uuid.uuid4().hex])


def set_default_payment_method(customer_id: str, payment_method_id: str | None) -> Plain:
    """The card Stripe charges the customer's invoices with (None: no default)."""
    customer = call(
        "customers.update",
        client().v1.customers.update,
        customer_id,
        params={"invoice_settings": {"default_payment_method": payment_method_id or ""}},
        options={
            "idempotency_key": _change_key("customer-default", customer_id, payment_method_id)
        },
    )
    return to_plain(customer)


# --- paying a booking with a saved card -------------------------------------------------------


def charge_saved_card(
    booking: Booking,
    *,
    customer_id: str,
    payment_method_id: str,
    destination_account: str,
    description: str,
) -> Plain:
    """Charge `booking` to a saved card, off-session: a destination charge with the platform fee.

    Raises `CardDeclined` when the card is declined or needs the mentee's authentication
    (`code == "authentication_required"`); nothing was charged then.
    """
    currency = booking.currency
    intent = call(
        "payment_intents.create",
        client().v1.payment_intents.create,
        params={
            "amount": to_minor_units(booking.price_amount, currency),
            "currency": currency.lower(),
            "customer": customer_id,
            "payment_method": payment_method_id,
            "confirm": True,
            "off_session": True,
            "description": description,
            "application_fee_amount": to_minor_units(booking.platform_fee_amount, currency),
            "transfer_data": {"destination": destination_account},
            "metadata": {"booking_id": str(booking.id)},
            "expand": ["latest_charge"],
        },
        options={"idempotency_key": idempotency_key("booking-saved-card", booking)},
    )
    return to_plain(intent)


# --- subscriptions, invoices, the billing portal ----------------------------------------------


def retrieve_subscription(subscription_id: str) -> Plain:
    subscription = call(
        "subscriptions.retrieve", client().v1.subscriptions.retrieve, subscription_id
    )
    return to_plain(subscription)


def set_cancel_at_period_end(subscription_id: str, cancel: bool, *, request_token: str) -> Plain:
    """Cancel the subscription when its period ends (True) or keep it renewing (False)."""
    return _update_subscription(
        subscription_id,
        {"cancel_at_period_end": cancel},
        f"membership-cancel:{subscription_id}:{int(cancel)}:{request_token}",
    )


def set_subscription_payment_method(subscription_id: str, payment_method_id: str) -> Plain:
    """The card a subscription's renewals are charged to (Checkout set it to the first card)."""
    return _update_subscription(
        subscription_id,
        {"default_payment_method": payment_method_id},
        _change_key("membership-card", subscription_id, payment_method_id),
    )


def _update_subscription(subscription_id: str, params: SubscriptionUpdateParams, key: str) -> Plain:
    subscription = call(
        "subscriptions.update",
        client().v1.subscriptions.update,
        subscription_id,
        params=params,
        options={"idempotency_key": key},
    )
    return to_plain(subscription)


def invoice_payments(invoice_id: str) -> list[Plain]:
    """The payments made towards an invoice (`payments` is included only when expanded)."""
    invoice = call(
        "invoices.retrieve",
        client().v1.invoices.retrieve,
        invoice_id,
        params={"expand": ["payments"]},
    )
    return to_plain(invoice).get("payments", {}).get("data") or []


def pay_invoice(invoice_id: str, payment_method_id: str, *, request_token: str) -> Plain:
    """Try an open invoice again with the given card. Raises `CardDeclined` when it declines."""
    invoice = call(
        "invoices.pay",
        client().v1.invoices.pay,
        invoice_id,
        params={"payment_method": payment_method_id},
        options={
            "idempotency_key": f"invoice-pay:{invoice_id}:{payment_method_id}:{request_token}"
        },
    )
    return to_plain(invoice)


def create_portal_session(customer_id: str, *, return_url: str) -> Plain:
    """A Stripe customer portal session (a short-lived URL; nothing to repeat, so no key)."""
    session = call(
        "billing_portal.sessions.create",
        client().v1.billing_portal.sessions.create,
        params={"customer": customer_id, "return_url": return_url},
    )
    return to_plain(session)


# --- the membership plan's prices -------------------------------------------------------------


def plan_lookup_key(interval: str, amount: Decimal, currency: str) -> str:
    """Names one price of the plan; a new amount in config names (and makes) a new price."""
    return f"membership_{interval}_{to_minor_units(amount, currency)}_{currency.lower()}"


def find_price(lookup_key: str) -> Plain | None:
    page = call(
        "prices.list",
        client().v1.prices.list,
        params={"lookup_keys": [lookup_key], "active": True, "limit": 100},
    )
    # Filtered again here: the key must match exactly, whatever the listing returned.
    return next((p for p in to_plain(page.data) if p.get("lookup_key") == lookup_key), None)


def create_plan_price(*, interval: str, amount: Decimal, currency: str, product_name: str) -> Plain:
    """Create the recurring price (and its product) for one interval of the plan."""
    lookup_key = plan_lookup_key(interval, amount, currency)
    price = call(
        "prices.create",
        client().v1.prices.create,
        params={
            "currency": currency.lower(),
            "unit_amount": to_minor_units(amount, currency),
            "recurring": {"interval": interval},
            "lookup_key": lookup_key,
            "product_data": {"name": product_name},
            "metadata": {"purpose": "membership"},
        },
        options={"idempotency_key": f"membership-price:{lookup_key}"},
    )
    return to_plain(price)


def retrieve_price(price_id: str) -> Plain:
    return to_plain(call("prices.retrieve", client().v1.prices.retrieve, price_id))
