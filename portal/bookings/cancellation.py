"""Cancelling a booking and refunding it.

What this module promises:

- The policy: a mentee who cancels at least 24 hours before the start gets a full refund; later
  the booking is canceled without a refund. A coach who cancels always refunds in full. An
  unpaid booking is simply released (its Checkout expired at Stripe first).
- `preview_cancellation` says, before anything changes, what cancelling now would give back
  and which rule decides it; `cancel_booking` applies the same rule (`_refund_rule`). The
  preview computes; the ledger records what Stripe reports when the refund is made.
- A refund is a local `Refund` row first (amounts from `money.split_refund`), committed by the
  caller before Stripe is asked; the Stripe call's idempotency key names that row, so a double
  click, a retry after a timeout, or two workers make one Stripe refund. Applying a refund
  (status, ledger, transaction and booking statuses) happens once, under the refund row's lock.
- `sync_charge_refunds` (`charge.refunded`, `application_fee.refunded`) and `sync_refund`
  (`refund.*`, `transfer.reversed`) find each Stripe refund by its id (or the local id in its
  metadata), read as Stripe has it now, and do nothing for one already applied; a refund made
  outside the portal is recorded from Stripe's figures. A refund the card's bank refuses after
  it succeeded is marked failed and the payment's status set back; the coach's balance keeps
  the reversal Stripe keeps.

Services add and flush; the caller commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import ledger
from portal.bookings import notices
from portal.bookings.fulfilment import abandon_checkout, payment_transaction
from portal.bookings.hold import BookingError, booking_for, refund_deadline
from portal.extensions import db
from portal.models import (
    Booking,
    PaymentStatus,
    Refund,
    RefundStatus,
    SessionStatus,
    Transaction,
    TransactionStatus,
    TransactionType,
    User,
    utcnow,
)
from portal.money import (
    FeeSplit,
    format_money,
    from_minor_units,
    split_refund,
    to_minor_units,
)
from portal.stripe_gateway import GatewayError, InvalidRequest
from portal.stripe_gateway import refunds as refunds_gateway

logger = logging.getLogger("portal.bookings.cancellation")

ZERO = Decimal("0.00")


class CancellationError(BookingError):
    """The booking cannot be canceled (it started, or it is not the person's to cancel)."""


class PaymentDisputed(CancellationError):
    """Stripe refuses to refund a disputed charge (`charge_disputed`); so does the portal."""

    def __init__(self) -> None:
        super().__init__(DISPUTED_MESSAGE)


DISPUTED_MESSAGE = (
    "This payment is disputed with the card's bank, so it cannot be refunded or canceled here "
    "(Stripe: charge_disputed). The dispute decides what happens to the money."
)


class RefundRefused(GatewayError):
    """Stripe refused the refund as asked (a disputed charge, say): asking again with the same
    key can never succeed, so the refund is recorded as failed, and that change is kept."""

    def __init__(self, refused: InvalidRequest) -> None:
        super().__init__(
            f"Stripe refused the refund: {refused.message}",
            code=refused.code,
            request_id=refused.request_id,
        )
        self.keeps_changes = True


class BookingNotFound(LookupError):
    """No such booking for this person: the view answers 404."""


@dataclass(frozen=True)
class Cancellation:
    """What cancelling did: the booking, and the refund to submit to Stripe if there is one."""

    booking: Booking
    refund: Refund | None
    message: str


@dataclass(frozen=True)
class CancellationPreview:
    """What cancelling now would give back, and the rule that decides it, in words."""

    amount: Decimal
    currency: str
    message: str


def preview_cancellation(
    booking: Booking, user: User, *, now: datetime | None = None
) -> CancellationPreview:
    """What `cancel_booking` would refund if `user` cancelled at `now`; changes nothing.

    Raises `CancellationError` when the booking cannot be canceled at all.
    """
    if user.id not in (booking.mentee_id, booking.coach_id):
        raise BookingNotFound(booking.id)
    moment = now or utcnow()
    currency = booking.currency
    if not booking.holds_slot or booking.starts_at <= moment:
        raise CancellationError(
            "This session has already started or ended, so it cannot be canceled."
        )
    transaction = payment_transaction(booking)
    if transaction is None:
        return CancellationPreview(
            ZERO,
            currency,
            "Nothing was paid, so nothing is charged or refunded: the time is freed.",
        )
    if transaction.is_disputed:
        raise PaymentDisputed()
    by_coach = user.id == booking.coach_id
    amount, rule = _refund_rule(booking, transaction, by_coach=by_coach, moment=moment)
    if amount == ZERO:
        return CancellationPreview(ZERO, currency, f"Nothing is refunded: {rule}.")
    who = "The mentee gets" if by_coach else "You get"
    return CancellationPreview(
        amount, currency, f"{who} {format_money(amount, currency)} back: {rule}."
    )


def _refund_rule(
    booking: Booking, transaction: Transaction, *, by_coach: bool, moment: datetime
) -> tuple[Decimal, str]:
    """The policy: what cancelling at `moment` refunds (all that is left, or nothing) and why."""
    if not by_coach and moment > refund_deadline(booking):
        return ZERO, f"the session starts in {_time_until(booking.starts_at, moment)}"
    left = transaction.amount - refunded_or_pending(transaction)
    if left <= ZERO:
        return ZERO, "the payment was already refunded in full"
    if by_coach:
        return left, "a coach's cancellation is always refunded in full"
    return left, "more than 24 hours before the start"


def _time_until(start: datetime, moment: datetime) -> str:
    minutes = int((start - moment).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    return f"{hours} hour{'s' if hours != 1 else ''}"


def cancel_booking(booking_id: int, user: User, *, now: datetime | None = None) -> Cancellation:
    """Cancel a booking for its mentee or its coach, under the booking's row lock; flushed.

    Asking twice is harmless: a canceled booking with a refund still to submit returns it.
    """
    booking = booking_for(booking_id, lock=True)
    if booking is None or user.id not in (booking.mentee_id, booking.coach_id):
        raise BookingNotFound(booking_id)
    by_coach = user.id == booking.coach_id
    moment = now or utcnow()
    if booking.status is SessionStatus.CANCELED:
        return Cancellation(booking, _unsubmitted_refund(booking), "This booking is canceled.")
    if booking.status is SessionStatus.COMPLETED or booking.starts_at <= moment:
        raise CancellationError("This session has already started, so it cannot be canceled.")
    if booking.status is SessionStatus.PENDING_PAYMENT:
        booking = abandon_checkout(booking)
        if booking.status is SessionStatus.CANCELED:
            return Cancellation(booking, None, "The booking is canceled and the time is free.")
        # It was paid while we asked Stripe: treat it as a paid booking below.
    transaction = payment_transaction(booking)
    if transaction is not None and transaction.is_disputed:
        raise PaymentDisputed()
    booking.status = SessionStatus.CANCELED
    db.session.flush()
    if transaction is None:
        return Cancellation(booking, None, "The booking is canceled.")
    amount, rule = _refund_rule(booking, transaction, by_coach=by_coach, moment=moment)
    if amount == ZERO:
        notices.booking_canceled(booking, user, None)
        return Cancellation(booking, None, f"The booking is canceled. Nothing is refunded: {rule}.")
    reason = "Canceled by the coach" if by_coach else "Canceled by the mentee"
    refund = request_refund(transaction, requested_by=user, reason=reason)
    notices.booking_canceled(booking, user, refund.amount)
    who = "you" if not by_coach else "the mentee"
    return Cancellation(
        booking,
        refund,
        f"The booking is canceled and {who} will be refunded "
        f"{format_money(refund.amount, refund.currency)} in full.",
    )


def request_refund(
    transaction: Transaction,
    *,
    requested_by: User | None,
    reason: str,
    amount: Decimal | None = None,
    request_token: str | None = None,
) -> Refund:
    """A pending `Refund` of `amount` (default: all that is left), split exactly; flushed.

    `request_token` (an admin's confirmation form) is unique: a second refund with the same
    token fails on the index, so the caller can find the first one instead. A disputed payment
    is refused (`PaymentDisputed`), as Stripe would refuse it.
    """
    if transaction.is_disputed:
        raise PaymentDisputed()
    already = refunded_or_pending(transaction)
    left = transaction.amount - already
    value = left if amount is None else amount
    split = split_refund(value, original_split(transaction), transaction.currency, already)
    refund = Refund(
        transaction_id=transaction.id,
        status=RefundStatus.PENDING,
        amount=value,
        currency=transaction.currency,
        platform_fee_refunded=split.platform_fee_refunded,
        coach_share_reversed=split.coach_share_reversed,
        reason=reason,
        requested_by_id=requested_by.id if requested_by else None,
        request_token=request_token,
    )
    db.session.add(refund)
    db.session.flush()
    return refund


def submit_refund(refund_id: int) -> Refund:
    """Ask Stripe for the refund (once, whoever asks) and apply its answer; flushed.

    Stripe unreachable (`GatewayError`) leaves the refund pending for a retry, which reuses the
    same key; Stripe refusing it (`RefundRefused`) records it as failed: a retry would be
    refused again, and a refund left pending would be waiting for nothing.
    """
    refund = _locked_refund(select(Refund).where(Refund.id == refund_id))
    if refund is None:
        raise LookupError(f"No refund {refund_id}")
    if refund.status is not RefundStatus.PENDING:
        return refund
    transaction = refund.transaction
    try:
        stripe_refund = refunds_gateway.create_refund(
            refund, payment_intent_id=transaction.stripe_payment_intent_id or ""
        )
    except InvalidRequest as refused:
        refund.status = RefundStatus.FAILED
        db.session.flush()
        raise RefundRefused(refused) from refused
    apply_stripe_refund(refund, stripe_refund)
    return refund


def apply_stripe_refund(refund: Refund, stripe_refund: dict[str, Any]) -> None:
    """Mirror Stripe's refund (read with its split) onto the locked local row, moving forward.

    What Stripe moved for the refund (its transfer reversal and fee refund) is recorded once, as
    soon as the refund has succeeded, even if it is first seen failed: a refund that the card's
    bank refuses later gives its money back to the platform, but the reversal and the fee refund
    stay at Stripe, so the coach's balance keeps them too. The status then follows Stripe:
    pending to succeeded, and pending or succeeded to failed or canceled, never back.

    The coach's balances are locked before the payment's row is written (its status, a
    failure): a release holds them while it locks that row, and a refund that wrote the row
    first (one that moved nothing of the coach's, say) and then waited for them at the next
    refund's entry would wait for the release while the release waited for it.
    """
    ledger.lock_coach(refund.transaction.coach_id)
    refund.stripe_refund_id = refund.stripe_refund_id or stripe_refund["id"]
    status = stripe_refund.get("status")
    if status in ("succeeded", "failed") and refund.transfer_reversed is None:
        ledger.record_stripe_refund(refund, refunds_gateway.split_of(stripe_refund))
    if status == "succeeded" and refund.status is RefundStatus.PENDING:
        refund.status = RefundStatus.SUCCEEDED
    elif status in ("failed", "canceled") and refund.status in UNDONE_FROM:
        was = refund.status
        refund.status = RefundStatus.FAILED if status == "failed" else RefundStatus.CANCELED
        transaction = refund.transaction
        failures = {**(transaction.meta or {}).get("failed_refunds", {})}
        failures[str(refund.id)] = stripe_refund.get("failure_reason") or "unknown"
        transaction.meta = {**(transaction.meta or {}), "failed_refunds": failures}
        if was is RefundStatus.SUCCEEDED:
            logger.warning("Refund %s failed after it succeeded (%s)", refund.id, failures)
    db.session.flush()
    _settle_statuses(refund.transaction)
    db.session.flush()


# A refund may fail while Stripe still works on it, or later, when the card's bank refuses it.
UNDONE_FROM = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)


def sync_refund(refund_id: str) -> tuple[Transaction | None, str | None]:
    """`refund.*`, `transfer.reversed`: apply Stripe's refund as it is now (read again, with its
    split), whatever events came before. Returns its transaction (None when the payment is not
    recorded yet) and the PaymentIntent it refunds."""
    stripe_refund = refunds_gateway.retrieve_refund(refund_id)
    charge = stripe_refund.get("charge")
    intent = stripe_refund.get("payment_intent") or (
        charge.get("payment_intent") if isinstance(charge, dict) else None
    )
    transaction = _transaction_by_intent(intent)
    if transaction is None:
        return None, intent
    apply_stripe_refund(_local_refund(transaction, stripe_refund), stripe_refund)
    return transaction, intent


def sync_charge_refunds(charge: dict[str, Any]) -> Transaction | None:
    """`charge.refunded`: make the local refunds match Stripe's; a no-op when they already do."""
    transaction = _transaction_by_intent(charge.get("payment_intent"))
    if transaction is None:
        return None
    currency = transaction.currency
    succeeded = sum(
        (r.amount for r in transaction.refunds if r.status is RefundStatus.SUCCEEDED), ZERO
    )
    if to_minor_units(succeeded, currency) == charge.get("amount_refunded"):
        return transaction
    listed = (charge.get("refunds") or {}).get("data")
    stripe_refunds = (
        listed if listed is not None else refunds_gateway.list_refunds_for_charge(charge["id"])
    )
    for stripe_refund in sorted(stripe_refunds, key=lambda r: r.get("created", 0)):
        refund = _local_refund(transaction, stripe_refund)
        if refund.status is RefundStatus.PENDING:  # read with its split, as Stripe made it
            apply_stripe_refund(refund, refunds_gateway.retrieve_refund(stripe_refund["id"]))
    return transaction


def sync_application_fee_refunds(charge_id: str) -> tuple[Transaction | None, str | None]:
    """`application_fee.refunded`: the charge's refunds as Stripe has them now."""
    charge = refunds_gateway.retrieve_charge(charge_id)
    return sync_charge_refunds(charge), charge.get("payment_intent")


def _local_refund(transaction: Transaction, stripe_refund: dict[str, Any]) -> Refund:
    refund = _locked_refund(select(Refund).where(Refund.stripe_refund_id == stripe_refund["id"]))
    if refund is not None:
        return refund
    local_id = (stripe_refund.get("metadata") or {}).get("refund_id")
    if local_id and str(local_id).isdigit():
        refund = _locked_refund(
            select(Refund).where(
                Refund.id == int(local_id), Refund.transaction_id == transaction.id
            )
        )
        if refund is not None:
            return refund
    # Made outside the portal (the Stripe dashboard): record it from Stripe's amount. Stripe
    # sends several events about such a refund at once, and another may be recording it now:
    # the unique index on its Stripe id makes this insert wait for that one, and the refund it
    # recorded is then read, locked, instead of failing the event.
    amount = from_minor_units(stripe_refund["amount"], transaction.currency)
    try:
        with db.session.begin_nested():
            refund = request_refund(
                transaction, requested_by=None, reason="Refunded at Stripe", amount=amount
            )
            refund.stripe_refund_id = stripe_refund["id"]
            db.session.flush()
    except IntegrityError:
        recorded = _locked_refund(
            select(Refund).where(Refund.stripe_refund_id == stripe_refund["id"])
        )
        if recorded is None:
            raise
        return recorded
    return refund


def _settle_statuses(transaction: Transaction) -> None:
    # Its refunds as the database has them now: a list read earlier in this transaction lacks
    # a refund recorded since, here or by another event about it that committed meanwhile.
    db.session.expire(transaction, ["refunds"])
    refunded = sum(
        (r.amount for r in transaction.refunds if r.status is RefundStatus.SUCCEEDED), ZERO
    )
    if refunded == ZERO:  # every refund failed: the mentee was not paid back
        if transaction.status in (TransactionStatus.REFUNDED, TransactionStatus.PARTIALLY_REFUNDED):
            transaction.status = TransactionStatus.COMPLETED
            if transaction.session is not None:
                transaction.session.payment_status = PaymentStatus.PAID
        return
    whole = refunded >= transaction.amount
    transaction.status = (
        TransactionStatus.REFUNDED if whole else TransactionStatus.PARTIALLY_REFUNDED
    )
    booking = transaction.session
    if booking is not None:
        booking.payment_status = (
            PaymentStatus.REFUNDED if whole else PaymentStatus.PARTIALLY_REFUNDED
        )


def _unsubmitted_refund(booking: Booking) -> Refund | None:
    transaction = payment_transaction(booking)
    if transaction is None:
        return None
    pending = [r for r in transaction.refunds if r.status is RefundStatus.PENDING]
    return pending[0] if pending else None


def refunded_or_pending(transaction: Transaction) -> Decimal:
    counted = (RefundStatus.SUCCEEDED, RefundStatus.PENDING)
    return sum((r.amount for r in transaction.refunds if r.status in counted), ZERO)


def original_split(transaction: Transaction) -> FeeSplit:
    return FeeSplit(transaction.amount, transaction.platform_fee, transaction.coach_share)


def _locked_refund(query: Any) -> Refund | None:
    return db.session.execute(
        query.with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _transaction_by_intent(payment_intent_id: str | None) -> Transaction | None:
    if not payment_intent_id:
        return None
    query = select(Transaction).where(
        Transaction.stripe_payment_intent_id == payment_intent_id,
        Transaction.type == TransactionType.SESSION_PAYMENT,
    )
    return db.session.scalar(query)
