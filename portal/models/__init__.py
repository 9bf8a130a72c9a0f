"""The portal's tables. Import models from here: `from portal.models import User`."""

from portal.models.accounts import CoachProfile, RecoveryCode, User
from portal.models.base import Base, utcnow
from portal.models.billing import Invoice, PaymentMethod, Subscription
from portal.models.caching import CacheGeneration
from portal.models.coaching import AvailabilitySlot, Booking, CoachTopic
from portal.models.connect import Payout, StripeConnectedAccount
from portal.models.enums import (
    MEMBER_STATUSES,
    RETURNED_PAYOUT_STATUSES,
    BillingInterval,
    EventStatus,
    InvoiceStatus,
    LedgerEntryKind,
    PaymentStatus,
    PayoutSchedule,
    PayoutStatus,
    RefundStatus,
    Role,
    SessionStatus,
    SubscriptionStatus,
    TransactionStatus,
    TransactionType,
)
from portal.models.jobs import JobRun, ReconciliationRun
from portal.models.mail import OutboxMessage
from portal.models.payments import LedgerEntry, Refund, Transaction
from portal.models.records import AuditLog, StripeEvent

__all__ = [
    "MEMBER_STATUSES",
    "RETURNED_PAYOUT_STATUSES",
    "AuditLog",
    "AvailabilitySlot",
    "Base",
    "BillingInterval",
    "CacheGeneration",
    "CoachProfile",
    "CoachTopic",
    "Booking",
    "EventStatus",
    "Invoice",
    "JobRun",
    "InvoiceStatus",
    "LedgerEntry",
    "LedgerEntryKind",
    "OutboxMessage",
    "PaymentMethod",
    "PaymentStatus",
    "Payout",
    "PayoutSchedule",
    "PayoutStatus",
    "ReconciliationRun",
    "RecoveryCode",
    "Refund",
    "RefundStatus",
    "Role",
    "SessionStatus",
    "StripeConnectedAccount",
    "StripeEvent",
    "Subscription",
    "SubscriptionStatus",
    "Transaction",
    "TransactionStatus",
    "TransactionType",
    "User",
    "utcnow",
]
