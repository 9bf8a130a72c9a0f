"""The fixed vocabularies of the schema. Each is stored as a CHECK-constrained string."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    MENTEE = "mentee"
    COACH = "coach"
    ADMIN = "admin"


class PayoutSchedule(enum.StrEnum):
    INSTANT = "instant"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"

    @property
    def is_instant(self) -> bool:
        """No schedule: the coach pays out whenever they choose, and no minimum applies."""
        return self is PayoutSchedule.INSTANT


class SessionStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    CANCELED = "canceled"


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    CANCELED = "canceled"


class PayoutStatus(enum.StrEnum):
    PENDING = "pending"
    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def returned(self) -> bool:
        """The payout never reached the bank: its money is back in the available balance."""
        return self in RETURNED_PAYOUT_STATUSES


RETURNED_PAYOUT_STATUSES = (PayoutStatus.FAILED, PayoutStatus.CANCELED)


class TransactionType(enum.StrEnum):
    SUBSCRIPTION_PAYMENT = "subscription_payment"
    SESSION_PAYMENT = "session_payment"


class TransactionStatus(enum.StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class SubscriptionStatus(enum.StrEnum):
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


# A subscription in these makes its mentee a member, with the member discount.
MEMBER_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class BillingInterval(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class EventStatus(enum.StrEnum):
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"
    # About an object the portal has not recorded yet (`waiting_for`): applied when it appears.
    DEFERRED = "deferred"


class LedgerEntryKind(enum.StrEnum):
    PAYMENT = "payment"
    FUNDS_AVAILABLE = "funds_available"
    REFUND = "refund"
    DISPUTE = "dispute"
    PAYOUT = "payout"
    PAYOUT_RETURNED = "payout_returned"
    PAYOUT_FEE = "payout_fee"
