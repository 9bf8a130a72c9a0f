"""Fulfilling a paid booking, once, whoever notices first: the return page or a webhook.

What this module promises:

- `fulfil_checkout(checkout_session)` is the one function both the Checkout return page and the
  `checkout.session.*` webhooks call. It locks the booking row first (`SELECT ... FOR UPDATE`),
  so the two serialise; the second finds the work done. A session in another mode is not a
  booking (None). It branches on `payment_status` (`paid` fulfils; `unpaid` fulfils nothing,
  a completed-but-unpaid session is marked processing until
  `checkout.session.async_payment_succeeded`).
- Fulfilment marks the booking paid and confirmed, records one `Transaction` per PaymentIntent
  (the unique index on (stripe_payment_intent_id, type) is the last guard) and tells the ledger.
- `fulfil_payment_intent(payment_intent)` is the same fulfilment for `payment_intent.succeeded`
  and a saved-card charge: one path, under the same row lock.
- An expired or abandoned Checkout releases the slot; a failed attempt marks the booking's
  payment failed while the Checkout page stays open for another card.

Services add and flush; the view or the webhook runner commits.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from portal import ledger
from portal.billing import cards
from portal.bookings import notices, pricing
from portal.bookings.hold import booking_for, release_booking
from portal.extensions import db
from portal.inserts import payment_once
from portal.models import (
    Booking,
    PaymentStatus,
    SessionStatus,
    Transaction,
    TransactionStatus,
    TransactionType,
)
from portal.money import to_minor_units
from portal.payouts import services as payouts
from portal.stripe_gateway import GatewayError, InvalidRequest
from portal.stripe_gateway import checkout as checkout_gateway

logger = logging.getLogger("portal.bookings.fulfilment")

CheckoutSession = dict[str, Any]
_SETTLED = (PaymentStatus.PAID, PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED)


def fulfil_checkout(checkout_session: CheckoutSession) -> int | None:
    """Apply what a Checkout Session says to its booking; idempotent. The booking's id, None if
    not a booking."""
    if checkout_session.get("mode") != "payment":
        return None
    payment_status = checkout_session.get("payment_status")
    intent = checkout_session.get("payment_intent")
    if payment_status == "paid":
        paid = pay_awaiting(
            _booking_id(checkout_session),
            _intent_id(intent),
            checkout_session_id=checkout_session["id"],
            **_charge_details(intent),
        )
        if paid is not None:
            _paid_at_checkout(paid, checkout_session)
            return paid.id
    booking = _locked_booking(checkout_session)
    if booking is None:
        return None
    if booking.stripe_checkout_session_id is None:
        booking.stripe_checkout_session_id = checkout_session["id"]
    elif booking.stripe_checkout_session_id != checkout_session["id"]:
        logger.warning(
            "Checkout %s does not belong to booking %s", checkout_session["id"], booking.id
        )
        return None
    if payment_status == "paid":  # paid already, or after it was released: mark_paid decides
        mark_paid(booking, _intent_id(intent), **_charge_details(intent))
        _paid_at_checkout(booking, checkout_session)
    elif checkout_session.get("status") == "complete" and payment_status == "unpaid":
        if booking.payment_status in (PaymentStatus.PENDING, PaymentStatus.FAILED):
            booking.payment_status = PaymentStatus.PROCESSING
    elif checkout_session.get("status") == "expired":
        release_unpaid(booking)
    db.session.flush()
    return booking.id


def fulfil_payment_intent(payment_intent: dict[str, Any]) -> int | None:
    """`payment_intent.succeeded` for a booking: the same outcome as a paid Checkout. The
    booking's id, None if not a booking."""
    succeeded = payment_intent.get("status") == "succeeded"
    if succeeded:
        paid = pay_awaiting(
            _booking_id(payment_intent), payment_intent["id"], **_charge_details(payment_intent)
        )
        if paid is not None:
            return paid.id
    booking = _locked_booking(payment_intent)
    if booking is None:
        return None
    if succeeded:  # paid already, or after it was released: mark_paid decides
        mark_paid(booking, payment_intent["id"], **_charge_details(payment_intent))
        db.session.flush()
    return booking.id


def record_payment_failure(payment_intent: dict[str, Any]) -> Booking | None:
    """A card was declined on the Checkout page: the booking's payment is `failed`.

    The slot stays held while the Checkout Session is open, since the mentee may try another
    card there; expiry or cancelling releases it.
    """
    booking = _locked_booking(payment_intent)
    if booking is None:
        return None
    if booking.status is SessionStatus.PENDING_PAYMENT and booking.payment_status not in _SETTLED:
        booking.payment_status = PaymentStatus.FAILED
        db.session.flush()
    return booking


def record_async_failure(checkout_session: CheckoutSession) -> Booking | None:
    """A delayed payment method failed after Checkout completed: the booking is over."""
    booking = _locked_booking(checkout_session)
    if booking is not None and booking.status is SessionStatus.PENDING_PAYMENT:
        release_booking(booking, PaymentStatus.FAILED)
    return booking


def expire_checkout(checkout_session: CheckoutSession) -> Booking | None:
    """`checkout.session.expired`: the booking was never paid; its slot is free again."""
    if checkout_session.get("mode") != "payment":
        return None
    booking = _locked_booking(checkout_session)
    if booking is not None:
        release_unpaid(booking)
    return booking


def abandon_checkout(booking: Booking) -> Booking:
    """The mentee left Checkout (or cancels an unpaid booking): expire it, free the slot.

    If the session was paid meanwhile, the payment wins: the booking is fulfilled instead.
    """
    session_id = booking.stripe_checkout_session_id
    if session_id and booking.status is SessionStatus.PENDING_PAYMENT:
        try:
            checkout_gateway.expire_session(session_id)
        except InvalidRequest:
            # Not open any more: it completed or expired. Stripe says which.
            fulfil_checkout(checkout_gateway.retrieve_session(session_id))
    locked = booking_for(booking.id, lock=True)
    assert locked is not None
    release_unpaid(locked)
    return locked


def release_unpaid(booking: Booking) -> None:
    if booking.status is not SessionStatus.PENDING_PAYMENT or booking.payment_status in _SETTLED:
        return
    failed = booking.payment_status is PaymentStatus.FAILED
    release_booking(booking, PaymentStatus.FAILED if failed else PaymentStatus.CANCELED)


def pay_awaiting(
    booking_id: int | None,
    payment_intent_id: str,
    *,
    checkout_session_id: str | None = None,
    transfer_id: str | None = None,
    receipt_url: str | None = None,
) -> sa.Row[Any] | None:
    """Confirm a booking awaiting its payment, record the payment and tell its two people:
    `mark_paid` for the common case, in one guarded `UPDATE ... RETURNING` that takes the
    booking's row lock, without reading the booking first. A Checkout's session must be the
    booking's own (or the booking must have none yet, and gets it).

    Returns the booking's columns the payment needs, or None when the booking does not await
    a payment (paid already, released, or none such): the caller then locks and reads it, and
    `mark_paid` decides. Two callers at once serialise on the row: the second finds the
    booking confirmed and goes the other way.
    """
    if booking_id is None:
        return None
    # The statement goes around the unit of work, and a copy of the booking the session holds is
    # expired after it: the caller's pending changes are written first, autoflush or not.
    db.session.flush()
    paid = db.session.execute(
        _PAY,
        {
            "booking_id": booking_id,
            "payment_intent_id": payment_intent_id,
            "checkout_session_id": checkout_session_id,
        },
    ).first()
    if paid is None:
        return None
    # The statement went around the session: a copy of the booking it holds is out of date.
    loaded = db.session.identity_map.get(db.session.identity_key(Booking, booking_id))
    if loaded is not None:
        db.session.expire(loaded)
    _record_payment(paid, payment_intent_id, transfer_id=transfer_id, receipt_url=receipt_url)
    notices.booking_confirmed(paid)
    return paid


_BOOKINGS = Booking.__table__
_CHECKOUT = bindparam("checkout_session_id", type_=sa.String)
_PAY = (
    sa.update(_BOOKINGS)
    .where(
        _BOOKINGS.c.id == bindparam("booking_id"),
        _BOOKINGS.c.status == SessionStatus.PENDING_PAYMENT,
        _BOOKINGS.c.payment_status.not_in(_SETTLED),
        # A PaymentIntent names no Checkout; a Checkout must be this booking's.
        sa.or_(
            _CHECKOUT.is_(None),
            _BOOKINGS.c.stripe_checkout_session_id.is_(None),
            _BOOKINGS.c.stripe_checkout_session_id == _CHECKOUT,
        ),
    )
    .values(
        status=SessionStatus.CONFIRMED,
        payment_status=PaymentStatus.PAID,
        stripe_payment_intent_id=bindparam("payment_intent_id"),
        stripe_checkout_session_id=sa.func.coalesce(
            _BOOKINGS.c.stripe_checkout_session_id, _CHECKOUT
        ),
    )
    .returning(
        _BOOKINGS.c.id,
        _BOOKINGS.c.coach_id,
        _BOOKINGS.c.mentee_id,
        _BOOKINGS.c.price_amount,
        _BOOKINGS.c.currency,
        _BOOKINGS.c.platform_fee_amount,
        _BOOKINGS.c.coach_payout_amount.label("coach_share"),
        _BOOKINGS.c.discount_amount,
        _BOOKINGS.c.discount_percentage,
        _BOOKINGS.c.created_at,
    )
)


def mark_paid(
    booking: Booking,
    payment_intent_id: str,
    *,
    transfer_id: str | None = None,
    receipt_url: str | None = None,
) -> None:
    """The booking is paid: confirmed, one transaction, one ledger entry, and the mentee and
    coach told (with a calendar invitation); flushed.

    The transaction copies the booking's quote (and its member discount into `meta`).
    """
    if booking.payment_status in _SETTLED:
        transaction = payment_transaction(booking)
        if transaction is not None:
            if transfer_id and not transaction.stripe_transfer_id:
                transaction.stripe_transfer_id = transfer_id
            return
    booking.payment_status = PaymentStatus.PAID
    booking.stripe_payment_intent_id = payment_intent_id
    _confirm(booking)
    db.session.flush()  # payment and confirmation in one UPDATE
    _record_payment(
        booking,
        payment_intent_id,
        transfer_id=transfer_id,
        receipt_url=receipt_url,
    )
    db.session.flush()
    if booking.status is SessionStatus.CONFIRMED:
        notices.booking_confirmed(booking)  # Stripe's receipt is read from the transaction


def _confirm(booking: Booking) -> None:
    if booking.status is SessionStatus.PENDING_PAYMENT:
        booking.status = SessionStatus.CONFIRMED
    elif booking.status is SessionStatus.CANCELED:
        # Paid after it was released (a Checkout that outlived its booking). Take the slot back
        # if it is still free; otherwise the money stays recorded for an admin to refund. The
        # payment is flushed first, outside the savepoint, so a lost slot cannot undo it.
        db.session.flush()
        try:
            with db.session.begin_nested():
                booking.status = SessionStatus.CONFIRMED
        except IntegrityError:
            db.session.refresh(booking)
            logger.error("Booking %s was paid after its slot was taken; refund it", booking.id)


def payment_transaction(booking: Booking) -> Transaction | None:
    query = select(Transaction).where(
        Transaction.session_id == booking.id, Transaction.type == TransactionType.SESSION_PAYMENT
    )
    return db.session.scalars(query.order_by(Transaction.id)).first()


def _record_payment(
    booking: Booking | sa.Row[Any],
    payment_intent_id: str,
    *,
    transfer_id: str | None,
    receipt_url: str | None,
) -> None:
    """The PaymentIntent's payment transaction, inserted now or found, and its ledger entry.

    One `INSERT ... ON CONFLICT DO NOTHING RETURNING` under the booking's lock; the unique index
    on (stripe_payment_intent_id, type) decides, so a lost race cannot fail the transaction.
    """
    discount = pricing.discount_meta(booking)
    meta = {**({"receipt_url": receipt_url} if receipt_url else {}), **discount}
    transaction_id = db.session.scalar(
        payment_once(),
        {
            "type": TransactionType.SESSION_PAYMENT,
            "status": TransactionStatus.COMPLETED,
            "amount": booking.price_amount,
            "currency": booking.currency,
            "platform_fee": booking.platform_fee_amount,
            "coach_payout": booking.coach_share,  # the column keeps the seed's name
            "payer_id": booking.mentee_id,
            "coach_id": booking.coach_id,
            "session_id": booking.id,
            "stripe_payment_intent_id": payment_intent_id,
            "stripe_transfer_id": transfer_id,
            "metadata": meta or None,
        },
    )
    if transaction_id is not None:
        entry = ledger.record_session_payment(
            transaction_id=transaction_id,
            coach_id=booking.coach_id,
            coach_share=booking.coach_share,
            currency=booking.currency,
        )
        if entry is not None:
            _catch_up_released_funds(booking, entry)
        return
    existing = _transaction_by_intent(payment_intent_id)
    if existing is None:  # the index said it exists: a committed row we must be able to see
        raise RuntimeError(f"Transaction for {payment_intent_id} conflicts but cannot be read.")
    # Its entry, found or written, takes the coach's lock before the payment's row is written:
    # a release holds that lock while it writes the same row (`ledger.lock_payment`).
    ledger.record_payment(existing)
    transfer, meta = _news_for(existing, transfer_id, receipt_url, discount)
    if transfer is None and not meta:
        return  # the row records all the event names; what it records is never taken back
    # Read unlocked, the row may have been written since (a dispute's flag, under the coach's
    # lock now held): read it again under its own lock, after the coach's, and add to that.
    db.session.refresh(existing, with_for_update=True)
    transfer, meta = _news_for(existing, transfer_id, receipt_url, discount)
    if transfer is not None:  # recorded first from an event without it
        existing.stripe_transfer_id = transfer
    if meta:
        existing.meta = {**(existing.meta or {}), **meta}


def _news_for(
    transaction: Transaction,
    transfer_id: str | None,
    receipt_url: str | None,
    discount: dict[str, str],
) -> tuple[str | None, dict[str, str]]:
    """What an event names of a recorded payment that its row does not record yet: the transfer
    (or None), and what to add to its meta (the member discount, the mail's receipt)."""
    recorded = transaction.meta or {}
    meta = {} if "member_discount" in recorded else dict(discount)
    if receipt_url and "receipt_url" not in recorded:
        meta["receipt_url"] = receipt_url
    return (transfer_id if transfer_id and not transaction.stripe_transfer_id else None), meta


def _catch_up_released_funds(booking: Booking | sa.Row[Any], entry: ledger.PaymentEntry) -> None:
    """A payment recorded after Stripe already told of its release is available, as at Stripe.

    The portal releases a coach's payments on `balance.available`. When a payment's own events
    come late (an outage, a delivery held for days) that event may already have been applied
    without this payment, and no later one need come. So when a `balance.available` of the
    coach's account was applied since the booking was made (the account's
    `balance_released_at`), the coach's held payments are released as Stripe has them now
    (DESIGN rule 7). The payment's ledger entry reads that time under the coach's lock.
    """
    released = entry.balance_released_at
    if entry.stripe_account_id is None or released is None or released < booking.created_at:
        return
    payouts.release_funds(booking.coach_id, entry.stripe_account_id)


def _transaction_by_intent(payment_intent_id: str) -> Transaction | None:
    query = select(Transaction).where(
        Transaction.stripe_payment_intent_id == payment_intent_id,
        Transaction.type == TransactionType.SESSION_PAYMENT,
    )
    return db.session.scalar(query)


def _locked_booking(stripe_object: dict[str, Any]) -> Booking | None:
    booking_id = _booking_id(stripe_object)
    if booking_id is None:
        return None
    booking = booking_for(booking_id, lock=True)
    if booking is None:
        logger.warning(
            "%s %s names booking %s, which does not exist",
            stripe_object.get("object"),
            stripe_object.get("id"),
            booking_id,
        )
    return booking


def _booking_id(stripe_object: dict[str, Any]) -> int | None:
    raw = (stripe_object.get("metadata") or {}).get("booking_id") or stripe_object.get(
        "client_reference_id"
    )
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _intent_id(intent: str | dict[str, Any] | None) -> str:
    if isinstance(intent, dict):
        return intent["id"]
    if not intent:
        raise ValueError("A paid Checkout Session without a PaymentIntent")
    return intent


def _keep_card_if_chosen(intent: str | dict[str, Any] | None, customer: Any) -> None:
    """The mentee ticked "Save my card" (`setup_future_usage`): keep the card as chosen.

    The payment stands whatever happens here; if Stripe cannot be asked now, the card still
    arrives by its `payment_method.attached` event, only not offered for one click.
    """
    if not isinstance(intent, dict) or not intent.get("setup_future_usage"):
        return
    payment_method = intent.get("payment_method")
    if isinstance(payment_method, dict):
        payment_method = payment_method.get("id")
    if not payment_method:
        return
    try:
        with db.session.begin_nested():
            cards.keep_chosen_card(payment_method, customer if isinstance(customer, str) else None)
    except GatewayError as exc:
        logger.warning("Could not keep the card of %s as chosen: %s", intent.get("id"), exc)


def _charge_details(intent: str | dict[str, Any] | None) -> dict[str, str | None]:
    """The transfer id and receipt URL, when the PaymentIntent's charge was expanded."""
    charge = intent.get("latest_charge") if isinstance(intent, dict) else None
    if not isinstance(charge, dict):
        return {"transfer_id": None, "receipt_url": None}
    transfer = charge.get("transfer")
    transfer_id = transfer.get("id") if isinstance(transfer, dict) else transfer
    return {"transfer_id": transfer_id, "receipt_url": charge.get("receipt_url")}


def _paid_at_checkout(booking: Booking | sa.Row[Any], checkout_session: CheckoutSession) -> None:
    _check_amount(booking, checkout_session.get("amount_total"))
    _keep_card_if_chosen(checkout_session.get("payment_intent"), checkout_session.get("customer"))


def _check_amount(booking: Booking | sa.Row[Any], amount_total: int | None) -> None:
    expected = to_minor_units(booking.price_amount, booking.currency)
    if amount_total is not None and amount_total != expected:
        logger.error(
            "Booking %s: Checkout charged %s minor units, the booking says %s",
            booking.id,
            amount_total,
            expected,
        )
