"""Small builders for test data: each makes a valid row with sensible defaults, committed."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyotp
import sqlalchemy as sa

from portal.accounts import services as accounts
from portal.bookings import hold
from portal.extensions import db
from portal.models import (
    AvailabilitySlot,
    BillingInterval,
    Booking,
    Refund,
    RefundStatus,
    Role,
    StripeConnectedAccount,
    Subscription,
    SubscriptionStatus,
    Transaction,
    TransactionStatus,
    TransactionType,
    User,
)

if TYPE_CHECKING:
    from tests.stripe_fake import FakeStripe

_counter = itertools.count(1)


def make_user(
    role: Role = Role.MENTEE,
    email: str | None = None,
    *,
    password: str = "correct horse battery",  # noqa: S107
    name: str | None = None,
    verified: bool = True,
    two_factor: bool | None = None,
    **profile: object,
) -> User:
    """A user; admins have two-factor sign-in, as the portal requires (`two_factor=False`
    makes one who has not set it up yet)."""
    n = next(_counter)
    user = accounts.create_user(
        email or f"{role.value}{n}@example.com",
        password,
        name or f"{role.value.title()} {n}",
        role,
        verified=verified,
    )
    if role is Role.COACH and user.coach_profile is not None:
        user.coach_profile.is_published = True
        for key, value in profile.items():
            setattr(user.coach_profile, key, value)
    if role is Role.ADMIN if two_factor is None else two_factor:
        user.totp_secret = pyotp.random_base32()  # as after an enrolment made earlier
    db.session.commit()
    return user


def make_connected_account(coach: User, *, charges_enabled: bool = True) -> StripeConnectedAccount:
    account = StripeConnectedAccount(
        user=coach,
        stripe_account_id=f"acct_test{coach.id:06d}",
        country="US",
        charges_enabled=charges_enabled,
        payouts_enabled=charges_enabled,
        details_submitted=charges_enabled,
        requires_onboarding=not charges_enabled,
    )
    coach.stripe_connect_account_id = account.stripe_account_id
    db.session.add(account)
    db.session.commit()
    return account


def make_slot(coach: User, *, hours_from_now: int = 48, minutes: int = 60) -> AvailabilitySlot:
    starts_at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(
        hours=hours_from_now
    )
    slot = AvailabilitySlot(coach=coach, starts_at=starts_at, duration_minutes=minutes)
    db.session.add(slot)
    db.session.commit()
    return slot


def make_paid_checkout(
    stripe_fake: FakeStripe, mentee: User, slot: AvailabilitySlot
) -> tuple[Booking, dict[str, Any]]:
    """`mentee` holds `slot` and pays on Stripe's Checkout page; the portal has not heard of it
    yet. The booking, and its PaymentIntent with the charge expanded, as Stripe has it."""
    booking = hold.hold_slot(mentee, slot.id)
    db.session.commit()
    hold.start_checkout(booking, success_url="http://x/ok", cancel_url="http://x/no")
    db.session.commit()
    return booking, stripe_fake.pay(booking.stripe_checkout_session_id)["payment_intent"]


def money(value: str) -> Decimal:
    return Decimal(value)


def make_payment(
    coach: User,
    payer: User,
    price: str = "100.00",
    *,
    fee_percentage: str = "20",
    currency: str = "USD",
    status: str = "completed",
    payment_intent: str | None = None,
) -> Transaction:
    """A session payment row (no ledger entry: tests call `portal.ledger` themselves)."""
    from portal.money import split_fee

    split = split_fee(Decimal(price), Decimal(fee_percentage), currency)
    txn = Transaction(
        type=TransactionType.SESSION_PAYMENT,
        status=TransactionStatus(status),
        amount=split.price,
        currency=currency,
        platform_fee=split.platform_fee,
        coach_share=split.coach_share,
        stripe_payment_intent_id=payment_intent or f"pi_test{next(_counter):08d}",
        payer_id=payer.id,
        coach_id=coach.id,
    )
    db.session.add(txn)
    db.session.commit()
    return txn


def insert_payments(people: Sequence[tuple[User, User]], *, start: datetime) -> None:
    """A completed 100.00 session payment (fee 20.00) for each (payer, coach) of `people`, a
    second apart from `start`, in one INSERT: a long list without the ORM's cost per row (no
    ledger entries)."""
    db.session.execute(
        sa.insert(Transaction),
        [
            {
                "type": TransactionType.SESSION_PAYMENT,
                "status": TransactionStatus.COMPLETED,
                "amount": Decimal("100.00"),
                "currency": "USD",
                "platform_fee": Decimal("20.00"),
                "coach_share": Decimal("80.00"),
                "payer_id": payer.id,
                "coach_id": coach.id,
                "created_at": start + timedelta(seconds=i),
                "updated_at": start + timedelta(seconds=i),
            }
            for i, (payer, coach) in enumerate(people)
        ],
    )
    db.session.commit()


def make_refund(transaction: Transaction, amount: str, *, status: str = "succeeded") -> Refund:
    """A refund of `amount`, split in proportion to the transaction's fee and share."""
    from portal.money import FeeSplit, split_refund

    original = FeeSplit(transaction.amount, transaction.platform_fee, transaction.coach_share)
    split = split_refund(Decimal(amount), original, transaction.currency, Decimal("0"))
    refund = Refund(
        transaction_id=transaction.id,
        stripe_refund_id=f"re_test{next(_counter):08d}",
        status=RefundStatus(status),
        amount=Decimal(amount),
        currency=transaction.currency,
        platform_fee_refunded=split.platform_fee_refunded,
        coach_share_reversed=split.coach_share_reversed,
    )
    db.session.add(refund)
    db.session.commit()
    return refund


def make_membership(user: User, status: SubscriptionStatus) -> None:
    """A platform membership in `status` (active and trialing give the member discount)."""
    now = datetime.now(UTC)
    db.session.add(
        Subscription(
            user_id=user.id,
            stripe_subscription_id=f"sub_test_{user.id}",
            stripe_price_id="price_test",
            status=status,
            current_period_start=now,
            current_period_end=now + timedelta(days=30),
            amount=Decimal("19.00"),
            currency="USD",
            interval=BillingInterval.MONTH,
        )
    )
    db.session.commit()
