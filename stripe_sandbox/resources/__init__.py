"""Stripe's resources, one module each, as Stripe's API reference groups them.

Core: balance (balances and balance transactions), customers, payment_methods, setup_intents,
payment_intents, charges, refunds, disputes, payouts. Connect: accounts (with account links,
login links, external accounts and capabilities), transfers (with their reversals),
application_fees. Checkout: checkout. Billing: products, prices, subscriptions, invoices,
billing_portal. Events and their webhooks are the sandbox's own (`events.py`, `webhooks.py`).

Each module works on a `Sandbox` and imports only modules below it, never the sandbox itself, so
there is no import cycle (`tests/sandbox/test_sandbox_layout.py` holds that).
"""

from __future__ import annotations

from . import balance, checkout, disputes, invoices, payouts

CLOCK = (
    balance.release_due,
    payouts.pay_out_scheduled,
    payouts.settle_payouts,
    disputes.decide_due,
    invoices.renew_subscriptions,
    checkout.expire_sessions,
)
"""What the sandbox clock makes happen on each tick, in this order."""
