"""A mentee's saved cards: the `payment_methods` table mirrors the cards on their Stripe customer.

What this module promises:

- A card is written from what Stripe says about it (`sync_card`), whoever noticed first: the
  setup Checkout's return page, `setup_intent.succeeded`, `payment_method.attached` or
  `.updated`. Writing the same card twice leaves one row; a card Stripe says is detached is
  deleted here.
- One row per card: a card saved again (the same `card.fingerprint`) keeps the row on file,
  and the new PaymentMethod is detached at Stripe (`sync_card` says which card was kept).
  `sync_cards` merges copies it finds (the default, or else the oldest, stays) the same way.
- A card is offered for one-click payment only if the mentee chose to keep it (`chosen`): from
  the card page, or with "Save my card" when paying. The membership's card is not, until then.
- Only the id, brand, last four digits, expiry and Stripe's fingerprint are kept; never a number.
- A mentee with cards has exactly one default, kept in three places that agree: the card's
  `is_default`, `users.default_payment_method_id` and the Stripe customer's
  `invoice_settings.default_payment_method` (and the membership's renewal card).
- Every lookup is scoped to the mentee: another person's card is simply not found.

Services add and flush; the view or the webhook runner commits.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from portal import pagination
from portal.extensions import db
from portal.models import PaymentMethod, SubscriptionStatus, User, utcnow
from portal.stripe_gateway import InvalidRequest
from portal.stripe_gateway import billing as gateway

logger = logging.getLogger("portal.billing")

# Statuses in which a membership renews, so its renewal card follows the mentee's default.
RENEWING = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)
PAGE_SIZE = 20


class CardNotFound(LookupError):
    """No such card among this mentee's cards."""


# --- reading --------------------------------------------------------------------------------


def cards_of(user_id: int) -> list[PaymentMethod]:
    """The mentee's cards, the default first, then newest first."""
    query = (
        select(PaymentMethod)
        .where(PaymentMethod.user_id == user_id)
        .order_by(PaymentMethod.is_default.desc(), PaymentMethod.id.desc())
    )
    return list(db.session.scalars(query))


def cards_page(
    user_id: int, *, after: str | None = None, before: str | None = None, size: int = PAGE_SIZE
) -> pagination.Page:
    """One page of the mentee's cards for the cards page: the default first (on the first
    page), then the others newest first, keyset on id. Raises `pagination.BadCursor`."""
    others = pagination.fetch_page(
        select(PaymentMethod).where(
            PaymentMethod.user_id == user_id, PaymentMethod.is_default.is_(False)
        ),
        key=PaymentMethod.id,
        row_id=PaymentMethod.id,
        kind="number",
        after=after,
        before=before,
        size=size,
    )
    if after or before:
        return others
    default = db.session.scalar(
        select(PaymentMethod).where(
            PaymentMethod.user_id == user_id, PaymentMethod.is_default.is_(True)
        )
    )
    rows = [default, *others.rows] if default is not None else others.rows
    return pagination.Page(rows, others.next_cursor, others.prev_cursor)


def card_of(user_id: int, card_id: int) -> PaymentMethod:
    """The mentee's card `card_id`; `CardNotFound` when it is not theirs or does not exist."""
    card = db.session.scalar(
        select(PaymentMethod).where(PaymentMethod.id == card_id, PaymentMethod.user_id == user_id)
    )
    if card is None:
        raise CardNotFound(card_id)
    return card


def default_card(user: User) -> PaymentMethod | None:
    return db.session.scalar(
        select(PaymentMethod).where(
            PaymentMethod.user_id == user.id, PaymentMethod.is_default.is_(True)
        )
    )


def is_expired(card: PaymentMethod, now: datetime | None = None) -> bool:
    """A card is good until the end of its expiry month."""
    if card.expiry_year is None or card.expiry_month is None:
        return False
    moment = now or utcnow()
    return (card.expiry_year, card.expiry_month) < (moment.year, moment.month)


# --- mirroring Stripe -----------------------------------------------------------------------


def user_for_customer(customer_id: str | None) -> User | None:
    if not customer_id:
        return None
    return db.session.scalar(select(User).where(User.stripe_customer_id == customer_id))


def sync_card(payment_method: dict[str, Any], *, chosen: bool = False) -> PaymentMethod | None:
    """Mirror one Stripe PaymentMethod: upsert it for its customer's user, or delete it if detached.

    A card already on file under another PaymentMethod (same fingerprint) is not added twice:
    the new one is detached at Stripe and the row on file is returned. `chosen` records that
    the mentee asked to keep the card. Returns the row (None when the card belongs to nobody
    the portal knows, or was removed).
    """
    if payment_method.get("type") != "card" or not payment_method.get("card"):
        return None
    pm_id = payment_method["id"]
    user = user_for_customer(payment_method.get("customer"))
    if user is None:
        _forget_card(pm_id)
        return None
    _lock_cards_of(user)
    card = _twin_on_file(user, payment_method)
    if card is not None:
        _detach_twin(pm_id)
        _forget_card(pm_id)
    else:
        card = _upsert_card(user, payment_method)
    card.chosen = card.chosen or chosen
    if default_card(user) is None:
        make_default(user, card)
    db.session.flush()
    return card


def refresh_card(payment_method_id: str, *, chosen: bool = False) -> PaymentMethod | None:
    """Re-read a PaymentMethod from Stripe and mirror it (events may arrive in any order)."""
    return sync_card(gateway.retrieve_payment_method(payment_method_id), chosen=chosen)


def keep_chosen_card(payment_method_id: str, customer_id: str | None) -> PaymentMethod | None:
    """The mentee saved a card on purpose: mirror it as chosen, and return the row that holds it.

    When that card was already on file, its new PaymentMethod was (or is now) detached, and the
    card on file is returned, found by the fingerprint Stripe still reports for it.
    """
    payment_method = gateway.retrieve_payment_method(payment_method_id)
    card = sync_card(payment_method, chosen=True)
    if card is not None:
        return card
    user = user_for_customer(customer_id)
    fingerprint = (payment_method.get("card") or {}).get("fingerprint")
    if user is None or not fingerprint:
        return None
    card = _card_by_fingerprint(user.id, fingerprint)
    if card is not None:
        card.chosen = True
        db.session.flush()
    return card


def _twin_on_file(user: User, payment_method: dict[str, Any]) -> PaymentMethod | None:
    """The user's row for the same card under another PaymentMethod id, if any."""
    fingerprint = (payment_method.get("card") or {}).get("fingerprint")
    if not fingerprint or _card_by_stripe_id(user.id, payment_method["id"]) is not None:
        return None
    return _card_by_fingerprint(user.id, fingerprint)


def _card_by_fingerprint(user_id: int, fingerprint: str) -> PaymentMethod | None:
    return db.session.scalar(
        select(PaymentMethod)
        .where(PaymentMethod.user_id == user_id, PaymentMethod.fingerprint == fingerprint)
        .order_by(PaymentMethod.id)
        .limit(1)
    )


def _detach_twin(pm_id: str) -> None:
    try:
        gateway.detach_payment_method(pm_id)
    except InvalidRequest:
        logger.info("The twin card %s was already detached at Stripe", pm_id)


def sync_cards(user: User) -> list[PaymentMethod]:
    """Make the mentee's rows match the cards on their Stripe customer, one row per card.

    Copies of one card (the same fingerprint: added again in Stripe's customer portal, or kept
    from before saving matched cards) are merged by `_merge_copies`.
    """
    if not user.stripe_customer_id:
        return cards_of(user.id)
    methods = gateway.list_payment_methods(user.stripe_customer_id)
    _lock_cards_of(user)
    seen = {pm["id"] for pm in methods}
    for pm in methods:
        if pm.get("customer") == user.stripe_customer_id:
            _upsert_card(user, pm)
    for card in cards_of(user.id):
        if card.stripe_payment_method_id not in seen:
            _delete(user, card)
    _merge_copies(user)
    if default_card(user) is None and (remaining := cards_of(user.id)):
        make_default(user, remaining[0])
    db.session.flush()
    return cards_of(user.id)


def _merge_copies(user: User) -> None:
    """Keep one row per fingerprint: the default, or else the oldest, chosen if any copy was.

    Every other copy is detached at Stripe and deleted here, as when a card is saved twice.
    """
    copies: dict[str, list[PaymentMethod]] = {}
    for card in cards_of(user.id):
        if card.fingerprint:
            copies.setdefault(card.fingerprint, []).append(card)
    for same_card in copies.values():
        kept = min(same_card, key=lambda card: (not card.is_default, card.id))
        for twin in same_card:
            if twin is kept:
                continue
            kept.chosen = kept.chosen or twin.chosen
            _detach_twin(twin.stripe_payment_method_id)
            _delete(user, twin)
            logger.info("Card %s was a copy of card %s; merged", twin.id, kept.id)


def _upsert_card(user: User, payment_method: dict[str, Any]) -> PaymentMethod:
    details = payment_method["card"]
    values = {
        "type": str(details.get("funding") or payment_method.get("type") or "card")[:32],
        "brand": str(details.get("display_brand") or details.get("brand") or "card")[:32],
        "last4": str(details.get("last4") or "0000")[-4:],
        "expiry_month": details.get("exp_month"),
        "expiry_year": details.get("exp_year"),
        "fingerprint": details.get("fingerprint") or None,
    }
    card = _card_by_stripe_id(user.id, payment_method["id"])
    if card is None:
        card = PaymentMethod(
            user_id=user.id,
            stripe_payment_method_id=payment_method["id"],
            is_default=False,
            chosen=False,
            **values,
        )
        try:
            with db.session.begin_nested():
                db.session.add(card)
        except IntegrityError:
            # The return page and a webhook saved the same card at the same moment.
            card = _card_by_stripe_id(user.id, payment_method["id"])
            if card is None:
                raise
    for key, value in values.items():
        setattr(card, key, value)
    return card


def _card_by_stripe_id(user_id: int, pm_id: str) -> PaymentMethod | None:
    return db.session.scalar(
        select(PaymentMethod).where(
            PaymentMethod.user_id == user_id, PaymentMethod.stripe_payment_method_id == pm_id
        )
    )


def cards_with_stripe_id(pm_id: str) -> list[PaymentMethod]:
    return list(
        db.session.scalars(
            select(PaymentMethod).where(PaymentMethod.stripe_payment_method_id == pm_id)
        )
    )


def _forget_card(pm_id: str) -> None:
    for card in cards_with_stripe_id(pm_id):
        _delete(card.user, card)
    db.session.flush()


def _delete(user: User, card: PaymentMethod) -> None:
    was_default = card.is_default
    # A statement, not `session.delete`: the webhook for the same detach may have deleted the
    # row a moment ago in another request, and that is the outcome we wanted anyway.
    db.session.execute(
        delete(PaymentMethod)
        .where(PaymentMethod.id == card.id)
        .execution_options(synchronize_session=False)
    )
    db.session.expunge(card)
    db.session.expire(user, ["payment_methods"])
    if was_default or user.default_payment_method_id == card.stripe_payment_method_id:
        user.default_payment_method_id = None
        successor = _successor(user)
        if successor is not None:
            make_default(user, successor)


def _successor(user: User) -> PaymentMethod | None:
    """The card that becomes the default when the default goes: the newest unexpired one."""
    remaining = cards_of(user.id)
    usable = [card for card in remaining if not is_expired(card)]
    return (usable or remaining or [None])[0]


# --- the mentee's actions -------------------------------------------------------------------


def _lock_cards_of(user: User) -> None:
    """Serialise changes to one mentee's cards (the return page and webhooks race to save one).

    PostgreSQL locks the user's row until the transaction ends; SQLite has one writer anyway.
    """
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())


def make_default(user: User, card: PaymentMethod) -> None:
    """Make `card` the one default, here and at Stripe (customer and membership renewals)."""
    _lock_cards_of(user)
    db.session.execute(
        update(PaymentMethod)
        .where(PaymentMethod.user_id == user.id)
        .values(is_default=PaymentMethod.id == card.id)
        .execution_options(synchronize_session=False)
    )
    for other in cards_of(user.id):
        db.session.refresh(other, ["is_default"])
    card.is_default = True
    user.default_payment_method_id = card.stripe_payment_method_id
    db.session.flush()
    if user.stripe_customer_id:
        gateway.set_default_payment_method(user.stripe_customer_id, card.stripe_payment_method_id)
    subscription = user.platform_subscription
    if subscription is not None and subscription.status in RENEWING:
        gateway.set_subscription_payment_method(
            subscription.stripe_subscription_id, card.stripe_payment_method_id
        )


def set_default(user: User, card_id: int) -> PaymentMethod:
    """The mentee picks their default card. Raises `CardNotFound` for a card not theirs."""
    card = card_of(user.id, card_id)
    make_default(user, card)
    return card


def remove_card(user: User, card_id: int) -> None:
    """Detach the card at Stripe and delete it here; the default moves to another card or clears.

    Raises `CardNotFound` for a card not theirs.
    """
    card = card_of(user.id, card_id)
    try:
        gateway.detach_payment_method(card.stripe_payment_method_id)
    except InvalidRequest:
        # Already detached (in the customer portal, or a retry): Stripe's word is what we wanted.
        logger.info("Card %s was already detached at Stripe", card.id)
    _delete(user, card)
    if user.default_payment_method_id is None and user.stripe_customer_id:
        gateway.set_default_payment_method(user.stripe_customer_id, None)
    db.session.flush()
