"""Saving a card through Checkout, and what billing does when a Checkout Session completes.

What this module promises:

- `start_card_setup` sends the mentee to Checkout in `setup` mode (no charge); the Stripe
  customer is made on first need, once per user.
- `on_setup_checkout_completed(session)` and `on_subscription_checkout_completed(session)` are
  what the one Checkout fulfilment calls for those modes, from the return page or from
  `checkout.session.completed`, in either order and any number of times: the first saves the
  card (or mirrors the subscription), the others find it done. A session not `complete` does
  nothing.

Services add and flush; the view or the webhook runner commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.billing import cards, membership
from portal.models import PaymentMethod, Subscription, User
from portal.stripe_gateway import billing as gateway
from portal.stripe_gateway import customers as customers_gateway

CheckoutSession = dict[str, Any]


def start_card_setup(user: User, *, attempt: str, success_url: str, cancel_url: str) -> str:
    """The URL of a Checkout page where the mentee saves a card (flushes a new customer id)."""
    customer_id = customers_gateway.ensure_customer(user)
    session = gateway.create_setup_session(
        user,
        customer_id=customer_id,
        attempt=attempt,
        success_url=success_url,
        cancel_url=cancel_url,
    )
    return session["url"]


@dataclass(frozen=True)
class SavedCard:
    """The card a setup saved, and whether it was already on file (the new copy detached)."""

    card: PaymentMethod
    already_on_file: bool


def on_setup_checkout_completed(checkout_session: CheckoutSession) -> SavedCard | None:
    """Save the card a setup-mode Checkout collected (idempotent); None if there is none yet."""
    if checkout_session.get("mode") != "setup" or checkout_session.get("status") != "complete":
        return None
    setup_intent = checkout_session.get("setup_intent")
    if isinstance(setup_intent, str):
        setup_intent = gateway.retrieve_setup_intent(setup_intent)
    if not isinstance(setup_intent, dict) or setup_intent.get("status") != "succeeded":
        return None
    return on_setup_intent_succeeded(setup_intent)


def on_setup_intent_succeeded(setup_intent: dict[str, Any]) -> SavedCard | None:
    """A SetupIntent saved a card the mentee chose to keep: mirror it as Stripe has it now.

    A card already on file keeps its row; the new PaymentMethod is detached at Stripe.
    """
    payment_method = setup_intent.get("payment_method")
    if isinstance(payment_method, dict):
        payment_method = payment_method.get("id")
    if not payment_method:
        return None
    customer = setup_intent.get("customer")
    card = cards.keep_chosen_card(payment_method, customer if isinstance(customer, str) else None)
    if card is None:
        return None
    return SavedCard(card, already_on_file=card.stripe_payment_method_id != payment_method)


def on_subscription_checkout_completed(checkout_session: CheckoutSession) -> Subscription | None:
    """Mirror the membership a subscription-mode Checkout started (idempotent)."""
    if checkout_session.get("mode") != "subscription":
        return None
    return membership.on_checkout_completed(checkout_session)


def setup_checkout_owned_by(checkout_session: CheckoutSession, user: User) -> bool:
    """The session was opened for this mentee (the return URL carries only its id)."""
    return bool(user.stripe_customer_id) and checkout_session.get("customer") == (
        user.stripe_customer_id
    )
