"""Every Stripe event type the portal handles, and its handler, in one table.

A type missing from `HANDLERS` is recorded as ignored. Platform events (Checkout, payments,
refunds, cards, memberships, invoices, disputes) and Connect events (balances, payouts,
accounts) share the table: the endpoint an event arrives on has already checked its signature.
"""

from __future__ import annotations

from portal.webhooks import IGNORED, Handler, billing, connect, payments

__all__ = ["HANDLERS", "IGNORED", "handler_for"]

HANDLERS: dict[str, Handler] = {
    # a booking's Checkout, its PaymentIntent and its refunds (each refund's event, the coach's
    # transfer reversed and the platform's fee refunded all apply the refund as Stripe has it
    # now, once, in any order); Checkout in every mode
    "checkout.session.completed": payments.checkout_completed,
    "checkout.session.async_payment_succeeded": payments.checkout_completed,
    "checkout.session.async_payment_failed": payments.checkout_async_failed,
    "checkout.session.expired": payments.checkout_expired,
    "payment_intent.succeeded": payments.payment_intent_succeeded,
    "payment_intent.payment_failed": payments.payment_intent_failed,
    "charge.refunded": payments.charge_refunded,
    "refund.created": payments.refund_changed,
    "refund.updated": payments.refund_changed,
    "refund.failed": payments.refund_changed,
    "transfer.reversed": payments.transfer_reversed,
    "application_fee.refunded": payments.application_fee_refunded,
    # disputes on a booking's payment
    "charge.dispute.created": connect.dispute_changed,
    "charge.dispute.updated": connect.dispute_changed,
    "charge.dispute.funds_withdrawn": connect.dispute_changed,
    "charge.dispute.funds_reinstated": connect.dispute_changed,
    "charge.dispute.closed": connect.dispute_changed,
    # saved cards, the membership and its invoices
    "setup_intent.succeeded": billing.setup_intent_succeeded,
    "payment_method.attached": billing.payment_method_changed,
    "payment_method.updated": billing.payment_method_changed,
    "payment_method.detached": billing.payment_method_changed,
    "customer.subscription.created": billing.subscription_changed,
    "customer.subscription.updated": billing.subscription_changed,
    "customer.subscription.deleted": billing.subscription_changed,
    "invoice.finalized": billing.invoice_changed,
    "invoice.paid": billing.invoice_changed,
    "invoice.payment_failed": billing.invoice_changed,
    # Connect: a coach's balance, payouts and account
    "balance.available": connect.balance_available,
    "payout.created": connect.payout_changed,
    "payout.updated": connect.payout_changed,
    "payout.paid": connect.payout_changed,
    "payout.failed": connect.payout_changed,
    "payout.canceled": connect.payout_changed,
    "account.updated": connect.account_updated,
}


def handler_for(event_type: str) -> Handler | None:
    return HANDLERS.get(event_type)
