"""The platform membership: its plan, the mentee's subscription and its invoices.

What this module promises:

- The plan has a monthly and a yearly price. Their amounts come from config; the Stripe prices
  are found by lookup key or made on first need (or taken as they are from
  `MEMBERSHIP_*_PRICE_ID`), once per process.
- The `subscriptions` row mirrors Stripe's subscription whatever order its events arrive in: a
  handler never writes the event's copy, it re-reads the subscription from Stripe and writes
  that (`refresh_subscription`). Periods come from the subscription item, as in the current API.
- The `invoices` rows mirror Stripe's invoices; an invoice's status only moves forward (draft,
  open, then paid / void / uncollectible), so a late `invoice.finalized` never reopens a paid
  invoice. An invoice links to its subscription (`parent.subscription_details.subscription`).
- A membership whose renewal failed (`past_due`, `unpaid`) asks the mentee to fix their card.
- Each payment of a paid invoice is a `subscription_payment` transaction, as admins see every
  payment: Stripe's amount paid and currency, its PaymentIntent (or charge) as the key, so it
  is written once however many events tell of it. The platform keeps all of it (`platform_fee`
  is the amount, `coach_share` zero) and no coach's balance moves.

Services add and flush; the view or the webhook runner commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import pagination
from portal.billing.cards import user_for_customer
from portal.errors import PortalError
from portal.extensions import db
from portal.inserts import payment_once
from portal.models import (
    BillingInterval,
    Invoice,
    InvoiceStatus,
    Subscription,
    SubscriptionStatus,
    TransactionStatus,
    TransactionType,
    User,
    utcnow,
)
from portal.money import from_minor_units, normalise_currency, to_decimal
from portal.stripe_gateway import billing as gateway
from portal.stripe_gateway import customers as customers_gateway
from portal.time_zones import show_time

logger = logging.getLogger("portal.billing")

INTERVALS = ("month", "year")
LIVE = (
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.UNPAID,
    SubscriptionStatus.INCOMPLETE,
    SubscriptionStatus.PAUSED,
)
NEEDS_CARD = (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID)
INVOICES_PAGE_SIZE = 24
# An invoice paid or voided is final: nothing is asked of the member for it any more.
SETTLED_INVOICES = (InvoiceStatus.PAID, InvoiceStatus.VOID)
_INVOICE_RANK = {
    InvoiceStatus.DRAFT: 0,
    InvoiceStatus.OPEN: 1,
    InvoiceStatus.UNCOLLECTIBLE: 2,
    InvoiceStatus.PAID: 3,
    InvoiceStatus.VOID: 3,
}


class MembershipError(PortalError):
    """A membership step that cannot go ahead; `message` says what to do."""


@dataclass(frozen=True)
class PlanPrice:
    interval: str
    amount: Decimal
    currency: str
    price_id: str


# --- the plan -------------------------------------------------------------------------------


def configured_amounts() -> dict[str, Decimal]:
    config = current_app.config
    return {
        "month": to_decimal(str(config["MEMBERSHIP_MONTHLY_AMOUNT"])),
        "year": to_decimal(str(config["MEMBERSHIP_YEARLY_AMOUNT"])),
    }


def plan_currency() -> str:
    return normalise_currency(current_app.config["MEMBERSHIP_CURRENCY"])


def plan_price(interval: str) -> PlanPrice:
    """The Stripe price of the plan for `interval` ("month" or "year"), made on first need."""
    if interval not in INTERVALS:
        raise MembershipError("Choose a monthly or a yearly membership.")
    cache: dict[str, PlanPrice] = current_app.extensions.setdefault("membership_prices", {})
    if interval not in cache:
        cache[interval] = _resolve_price(interval)
    return cache[interval]


def _resolve_price(interval: str) -> PlanPrice:
    setting = "MEMBERSHIP_MONTHLY_PRICE_ID" if interval == "month" else "MEMBERSHIP_YEARLY_PRICE_ID"
    configured_id = current_app.config.get(setting) or ""
    if configured_id:
        price = gateway.retrieve_price(configured_id)
    else:
        amount, currency = configured_amounts()[interval], plan_currency()
        price = gateway.find_price(
            gateway.plan_lookup_key(interval, amount, currency)
        ) or gateway.create_plan_price(
            interval=interval,
            amount=amount,
            currency=currency,
            product_name=current_app.config["MEMBERSHIP_PRODUCT_NAME"],
        )
    currency = normalise_currency(price["currency"])
    return PlanPrice(
        interval=interval,
        amount=from_minor_units(int(price["unit_amount"]), currency),
        currency=currency,
        price_id=price["id"],
    )


# --- reading --------------------------------------------------------------------------------


def membership_of(user: User) -> Subscription | None:
    return user.platform_subscription


def needs_card_fix(user: User) -> bool:
    """A renewal failed: the mentee should give a card that works."""
    subscription = user.platform_subscription
    return subscription is not None and subscription.status in NEEDS_CARD


def invoices_of(
    user_id: int,
    *,
    after: str | None = None,
    before: str | None = None,
    size: int = INVOICES_PAGE_SIZE,
) -> pagination.Page:
    """One page of the mentee's invoices, newest first (keyset on (created_at, id)).

    Raises `pagination.BadCursor` for a page link that does not parse.
    """
    return pagination.fetch_page(
        select(Invoice).where(Invoice.user_id == user_id),
        key=Invoice.created_at,
        row_id=Invoice.id,
        kind="datetime",
        after=after,
        before=before,
        size=size,
    )


def invoice_of(user_id: int, invoice_id: int) -> Invoice | None:
    return db.session.scalar(
        select(Invoice).where(Invoice.id == invoice_id, Invoice.user_id == user_id)
    )


# --- the mentee's actions -------------------------------------------------------------------


def start_checkout(
    user: User, interval: str, *, attempt: str, success_url: str, cancel_url: str
) -> str:
    """The URL of a Checkout page that makes the mentee a member (flushes a new customer id)."""
    subscription = user.platform_subscription
    if subscription is not None and subscription.status in LIVE:
        raise MembershipError("You already have a membership. Manage it below.")
    price = plan_price(interval)
    customer_id = customers_gateway.ensure_customer(user)
    session = gateway.create_subscription_session(
        user,
        customer_id=customer_id,
        price_id=price.price_id,
        attempt=attempt,
        success_url=success_url,
        cancel_url=cancel_url,
    )
    return session["url"]


def cancel_preview(user: User) -> str:
    """What "Cancel at period end" means for this membership, in words; changes nothing."""
    subscription = user.platform_subscription
    if subscription is None or subscription.status not in LIVE:
        raise MembershipError("You have no membership to change.")
    if subscription.cancel_at_period_end:
        raise MembershipError("Your membership already ends at the end of this period.")
    ends = show_time(subscription.current_period_end, user.time_zone, "%d %b %Y")
    return (
        f"Nothing is refunded: you paid for this period, so your membership and its discount "
        f"stay until {ends}. After that you are not charged again."
    )


def set_cancel_at_period_end(user: User, cancel: bool, *, request_token: str) -> Subscription:
    """Cancel at the end of the period (True) or resume (False); the row follows Stripe's answer."""
    subscription = user.platform_subscription
    if subscription is None or subscription.status not in LIVE:
        raise MembershipError("You have no membership to change.")
    updated = gateway.set_cancel_at_period_end(
        subscription.stripe_subscription_id, cancel, request_token=request_token
    )
    applied = apply_subscription(updated)
    assert applied is not None
    return applied


def portal_url(user: User, *, return_url: str) -> str:
    """A Stripe customer portal session for the mentee: cards, invoices, cancelling."""
    customer_id = customers_gateway.ensure_customer(user)
    return gateway.create_portal_session(customer_id, return_url=return_url)["url"]


def on_checkout_completed(checkout_session: dict[str, Any]) -> Subscription | None:
    """A subscription-mode Checkout finished: mirror the subscription it made (idempotent)."""
    if checkout_session.get("status") != "complete":
        return None
    subscription = checkout_session.get("subscription")
    if isinstance(subscription, dict):
        return apply_subscription(subscription)
    if isinstance(subscription, str) and subscription:
        return refresh_subscription(subscription)
    return None


# --- mirroring subscriptions ----------------------------------------------------------------


def refresh_subscription(stripe_subscription_id: str) -> Subscription | None:
    """Re-read the subscription from Stripe and write what it says now."""
    return apply_subscription(gateway.retrieve_subscription(stripe_subscription_id))


def apply_subscription(data: dict[str, Any]) -> Subscription | None:
    """Write Stripe's subscription `data` into its mentee's row (the row is per mentee)."""
    user = owner_of(data)
    if user is None:
        logger.info("Subscription %s belongs to no mentee the portal knows", data.get("id"))
        return None
    values = _subscription_values(data)
    row = user.platform_subscription
    if row is None:
        row = db.session.scalar(
            select(Subscription).where(Subscription.stripe_subscription_id == data["id"])
        )
    if row is None:
        row = Subscription(user_id=user.id, **values)
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            db.session.expire(user, ["platform_subscription"])
            row = user.platform_subscription
            if row is None:
                raise
    if row.stripe_subscription_id != data["id"] and not _replaces(row, values["status"]):
        logger.info(
            "Subscription %s is older than %s; kept", data["id"], row.stripe_subscription_id
        )
        return row
    for key, value in values.items():
        setattr(row, key, value)
    db.session.flush()
    return row


def _replaces(row: Subscription, incoming: SubscriptionStatus) -> bool:
    """A second subscription of one mentee takes the row unless it would hide a live one."""
    return row.status not in LIVE or incoming in LIVE


def owner_of(data: dict[str, Any]) -> User | None:
    user = user_for_customer(_id_of(data.get("customer")))
    if user is None:
        user_id = (data.get("metadata") or {}).get("user_id")
        if user_id and str(user_id).isdigit():
            user = db.session.get(User, int(user_id))
    return user


def _subscription_values(data: dict[str, Any]) -> dict[str, Any]:
    item = data["items"]["data"][0]
    price = item["price"]
    currency = normalise_currency(price["currency"])
    quantity = int(item.get("quantity") or 1)
    return {
        "stripe_subscription_id": data["id"],
        "stripe_price_id": price["id"],
        "status": SubscriptionStatus(data["status"]),
        "current_period_start": _when(item["current_period_start"]),
        "current_period_end": _when(item["current_period_end"]),
        "cancel_at_period_end": bool(data.get("cancel_at_period_end")),
        "amount": from_minor_units(int(price["unit_amount"]) * quantity, currency),
        "currency": currency,
        "interval": BillingInterval(price["recurring"]["interval"]),
    }


# --- mirroring invoices ---------------------------------------------------------------------


def apply_invoice(data: dict[str, Any]) -> Invoice | None:
    """Write Stripe's invoice `data`; its status only moves forward."""
    user = user_for_customer(_id_of(data.get("customer")))
    if user is None:
        logger.info("Invoice %s belongs to no mentee the portal knows", data.get("id"))
        return None
    currency = normalise_currency(data["currency"])
    status = InvoiceStatus(data["status"])
    values: dict[str, Any] = {
        "amount": from_minor_units(int(data.get("total", data.get("amount_due", 0))), currency),
        "currency": currency,
        "invoice_url": data.get("hosted_invoice_url"),
        "invoice_pdf": data.get("invoice_pdf"),
        "due_date": _when(data.get("due_date") or data.get("next_payment_attempt")),
        "paid_at": _when((data.get("status_transitions") or {}).get("paid_at")),
        "subscription_id": _subscription_row_id(data),
    }
    row = db.session.scalar(select(Invoice).where(Invoice.stripe_invoice_id == data["id"]))
    if row is None:
        row = Invoice(stripe_invoice_id=data["id"], user_id=user.id, status=status, **values)
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            row = db.session.scalar(select(Invoice).where(Invoice.stripe_invoice_id == data["id"]))
            if row is None:
                raise
        else:
            db.session.flush()
            return row
    if _INVOICE_RANK[status] < _INVOICE_RANK[row.status]:
        return row  # an older word on this invoice, arriving late
    row.status = status
    for key, value in values.items():
        if value is not None or key in ("due_date",):
            setattr(row, key, value)
    db.session.flush()
    return row


def record_payments(invoice: Invoice) -> list[int]:
    """Write each paid payment of a paid invoice as a membership payment (idempotent).

    The payments are read from Stripe (an invoice event carries them only when expanded), and
    each is keyed by its PaymentIntent, or its charge when it has none. Returns the ids of the
    transactions written now; a payment already recorded is left as it is.
    """
    meta = {"invoice": invoice.stripe_invoice_id}
    if invoice.subscription is not None:
        meta["subscription"] = invoice.subscription.stripe_subscription_id
    written = []
    for payment in gateway.invoice_payments(invoice.stripe_invoice_id):
        paid = payment.get("payment") or {}
        key = _id_of(paid.get("payment_intent")) or _id_of(paid.get("charge"))
        if payment.get("status") != "paid" or not key or not payment.get("amount_paid"):
            continue
        currency = normalise_currency(payment["currency"])
        amount = from_minor_units(int(payment["amount_paid"]), currency)
        paid_at = _when((payment.get("status_transitions") or {}).get("paid_at"))
        transaction_id = db.session.scalar(
            payment_once(),
            {
                "type": TransactionType.SUBSCRIPTION_PAYMENT,
                "status": TransactionStatus.COMPLETED,
                "amount": amount,
                "currency": currency,
                "platform_fee": amount,
                "coach_payout": Decimal("0.00"),  # the column keeps the seed's name
                "payer_id": invoice.user_id,
                "stripe_payment_intent_id": key,
                "metadata": meta,
                "created_at": paid_at or utcnow(),
                "updated_at": utcnow(),
            },
        )
        if transaction_id is not None:
            written.append(transaction_id)
    return written


def invoice_subscription_id(data: dict[str, Any]) -> str | None:
    """The Stripe subscription an invoice bills (current API: under `parent`)."""
    details = (data.get("parent") or {}).get("subscription_details") or {}
    return _id_of(details.get("subscription"))


def _subscription_row_id(data: dict[str, Any]) -> int | None:
    stripe_id = invoice_subscription_id(data)
    if not stripe_id:
        return None
    row = db.session.scalar(
        select(Subscription).where(Subscription.stripe_subscription_id == stripe_id)
    )
    if row is None:
        # The invoice's event came before the subscription's: read the subscription now.
        row = refresh_subscription(stripe_id)
    return row.id if row is not None and row.stripe_subscription_id == stripe_id else None


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _when(timestamp: Any) -> datetime | None:
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        return datetime.fromtimestamp(timestamp, UTC)
    return None
