"""Coaches getting paid: Connect onboarding, payout settings, payouts, and the platform fee.

What it promises:

- One path mirrors Stripe's word into the portal: `mirror_account` for an account object (the
  `account.updated` handler stores it; the onboarding return page only shows a fresh read) and
  `record_stripe_payout` for a payout object (the `payout.*` handlers and the portal's own
  payout creation both call it). A payout row's status moves forward only, and its money moves
  through the ledger: taken from available when first seen, given back when it fails or is
  canceled. Every status the payout reaches is safe to see twice, in any order, and is told to
  the coach once (`notices`).
- An Express account is created once per coach (the coach's row is locked and the idempotency
  key names the coach), and a coach can be paid only when Stripe says `charges_enabled` /
  `payouts_enabled`: returning from onboarding is a hint to look, never completion.
- Payouts: the portal, not Stripe's automatic schedule, decides when a coach is paid, because
  Stripe's automatic payouts know nothing of the coach's minimum payout (and Stripe refuses
  API payouts for accounts on an automatic schedule). So every account is kept on Stripe's
  `manual` interval, and the coach's choice is written beside it in the account's metadata
  (`payout_schedule`). "Instant" coaches pay out on demand (`pay_out_now`, with a confirmed
  amount, or `pay_out_instantly` to a debit card for Stripe's fee, which the ledger records
  from the payout's balance transaction); daily/weekly/monthly coaches are paid by `flask
  payouts run` on their day (daily: every day; weekly: Mondays; monthly: the 1st; UTC) when
  available >= their minimum.
- A payout creation locks the coach's connected-account row first (the same row the webhook
  handlers lock), reads the available balance under that lock, and names the attempt in its
  idempotency key: the coach's confirmation (its one-time `attempt` token) or the schedule's
  day. A double click or a retry of the same attempt makes one Stripe payout, recorded in the
  same transaction; a new attempt gets a new key, so a payout Stripe refused (its funds not
  yet available) is not replayed as refused once the money is there.
- Services add and flush; the caller commits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from portal import ledger
from portal.errors import EmailNotVerified, PortalError
from portal.extensions import db
from portal.models import (
    AuditLog,
    CoachProfile,
    EventStatus,
    Payout,
    PayoutSchedule,
    PayoutStatus,
    StripeConnectedAccount,
    StripeEvent,
    Transaction,
    User,
    utcnow,
)
from portal.money import format_money, from_minor_units, normalise_currency, to_minor_units
from portal.payouts import instant, notices
from portal.payouts.words import describe_requirements as describe_requirements
from portal.stripe_gateway import InvalidRequest, idempotency_key
from portal.stripe_gateway import connect as gateway

logger = logging.getLogger("portal.payouts")
ZERO = Decimal("0.00")
CENTS = Decimal("0.01")


class PayoutError(PortalError):
    """A payout or settings change the portal refuses; `message` says what to do."""


class NotPayable(PayoutError):
    """The coach has no connected account, or Stripe has not enabled its payouts."""


class NothingToPayOut(PayoutError):
    """The available balance is zero (or below what was asked)."""


class BalanceChanged(PayoutError):
    """The available balance is not the amount the coach confirmed."""


# --- mirroring Stripe's objects (shared with the webhook handlers) -----------------------------

# Where a payout may go from each status; anything else is an older event arriving late.
# (A paid payout may still fail: Stripe reports a bank's return that way.)
PAYOUT_MOVES: dict[PayoutStatus, frozenset[PayoutStatus]] = {
    PayoutStatus.PENDING: frozenset(
        {PayoutStatus.IN_TRANSIT, PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.CANCELED}
    ),
    PayoutStatus.IN_TRANSIT: frozenset(
        {PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.CANCELED}
    ),
    PayoutStatus.PAID: frozenset({PayoutStatus.FAILED}),
    PayoutStatus.FAILED: frozenset(),
    PayoutStatus.CANCELED: frozenset(),
}


def connected_account_for(
    stripe_account_id: str | None, *, lock: bool = False
) -> StripeConnectedAccount | None:
    """The portal's row for a Stripe account id; `lock` serialises that account's changes."""
    if not stripe_account_id:
        return None
    query = sa.select(StripeConnectedAccount).where(
        StripeConnectedAccount.stripe_account_id == stripe_account_id
    )
    if lock:
        query = query.with_for_update()
    return db.session.scalar(query)


# Stripe's clock and the portal's may differ: read Stripe's payments from this long before
# the oldest held payment's booking.
CLOCK_SLACK = timedelta(days=1)


def release_funds(coach_id: int, stripe_account_id: str) -> int:
    """Move each of the coach's held payments that Stripe has made available from pending to
    available, reading Stripe's balance transactions now; the number of payments moved.

    Called on every `balance.available` of the account (whatever its snapshot says: it may be
    delayed, repeated or stale) and when a payment is recorded after a release. Stripe's
    reversals and payouts never touch pending, so after this the coach's pending is Stripe's
    for the payments the portal has recorded (DESIGN rule 7).

    The coach's balances are locked before the held payments are read, even when none are
    held: a payment being recorded holds that lock from its ledger entry until it commits. So
    either this read waits for that payment and sees it, or the payment's entry waits for the
    release to commit and then sees its mark (`balance_released_at`) and catches up.
    """
    ledger.lock_balances(coach_id)
    held = ledger.held_payments(coach_id)
    if not held:
        return 0
    since = int((min(payment.since for payment in held) - CLOCK_SLACK).timestamp())
    released = set().union(
        *(
            gateway.released_transfers(stripe_account_id, currency, since)
            for currency in {payment.currency for payment in held}
        )
    )
    if not released:
        return 0
    return sum(
        ledger.record_release(coach_id, payment) is not None
        for payment in held
        if _transfer_of(payment) in released
    )


def _transfer_of(payment: ledger.HeldPayment) -> str | None:
    """The payment's transfer to the coach's account. A payment recorded from a Checkout's or a
    PaymentIntent's own event does not know it (those name the charge by id only), so Stripe is
    asked once and the answer kept on the transaction."""
    if payment.stripe_transfer_id is not None or payment.stripe_payment_intent_id is None:
        return payment.stripe_transfer_id
    try:
        transfer = gateway.transfer_of_payment(payment.stripe_payment_intent_id)
    except InvalidRequest as exc:  # not Stripe's: it stays pending, and reconcile says so
        logger.error("Transaction %s: its payment's transfer: %s", payment.transaction_id, exc)
        return None
    if transfer is not None:
        db.session.execute(
            sa.update(Transaction)
            .where(
                Transaction.id == payment.transaction_id,
                Transaction.stripe_transfer_id.is_(None),
            )
            .values(stripe_transfer_id=transfer)
        )
    return transfer


def record_stripe_payout(account: StripeConnectedAccount, data: dict[str, Any]) -> Payout:
    """Create or move forward the `payouts` row for Stripe payout `data`, and its ledger entries.

    Call with the account's row locked (`connected_account_for(..., lock=True)` or
    `lock_account`). Stripe takes the amount when a payout is created and gives it back when it
    fails or is canceled, so even a payout first seen as failed is taken and returned: the two
    entries net to zero.
    """
    status = PayoutStatus(data["status"])
    payout = db.session.scalar(sa.select(Payout).where(Payout.stripe_payout_id == data["id"]))
    before = payout.status if payout is not None else None
    if payout is None:
        currency = normalise_currency(data["currency"])
        payout = _insert_payout(
            Payout(
                stripe_payout_id=data["id"],
                amount=from_minor_units(data["amount"], currency),
                currency=currency,
                status=status,
                user_id=account.user_id,
                connected_account_id=account.id,
            )
        )
    elif status in PAYOUT_MOVES[payout.status]:
        payout.status = status
    if payout.status == status:  # this object is the newest word on the payout
        payout.arrival_date = _timestamp(data.get("arrival_date")) or payout.arrival_date
        payout.meta = {
            **(payout.meta or {}),
            "method": data.get("method"),
            "automatic": bool(data.get("automatic")),
            "failure_code": data.get("failure_code"),
            "failure_message": data.get("failure_message"),
        }
    if (payout.meta or {}).get("fee") is None:
        payout.meta = {**(payout.meta or {}), "fee": str(_fee_of(account, data, payout.currency))}
    # A new version of the coach's payouts (an old or repeated object makes one too, harmlessly).
    account.payout_changes = StripeConnectedAccount.payout_changes + 1
    db.session.flush()
    ledger.record_payout(payout)
    ledger.record_payout_fee(payout, Decimal(payout.meta["fee"]))
    if payout.status.returned:
        ledger.record_payout_returned(payout)
    notices.payout_moved(payout, before)
    return payout


def _fee_of(account: StripeConnectedAccount, data: dict[str, Any], currency: str) -> Decimal:
    """Stripe's fee for the payout (an instant one's), from its balance transaction."""
    if data.get("method") != "instant":
        return ZERO
    txn = data.get("balance_transaction")
    if isinstance(txn, str):  # a webhook's payout names it; the portal's own creation expands it
        txn = gateway.retrieve_balance_transaction(account.stripe_account_id, txn)
    return from_minor_units(int(txn["fee"]), currency) if txn else ZERO


def _insert_payout(payout: Payout) -> Payout:
    """Insert; if another worker recorded the same Stripe payout first, use its row."""
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.add(payout)  # SQLite: one writer at a time, under the account lock
        db.session.flush()
        return payout
    try:
        with db.session.begin_nested():
            db.session.add(payout)
    except IntegrityError:
        existing = db.session.scalar(
            sa.select(Payout).where(Payout.stripe_payout_id == payout.stripe_payout_id)
        )
        if existing is None:
            raise
        return existing
    return payout


def mirror_account(account: StripeConnectedAccount, data: dict[str, Any]) -> None:
    """Copy Stripe's account object onto the portal's row (flags, requirements, profile)."""
    requirements = data.get("requirements") or {}
    account.charges_enabled = bool(data.get("charges_enabled"))
    account.payouts_enabled = bool(data.get("payouts_enabled"))
    account.details_submitted = bool(data.get("details_submitted"))
    account.requires_onboarding = not account.details_submitted or bool(
        requirements.get("currently_due")
    )
    account.verification_status = _verification_status(data, requirements)
    account.requirements = requirements
    account.business_type = data.get("business_type")
    account.business_profile = data.get("business_profile")
    if data.get("country"):
        account.country = str(data["country"]).upper()
    if data.get("default_currency"):
        account.default_currency = str(data["default_currency"]).upper()


def _verification_status(data: dict[str, Any], requirements: dict[str, Any]) -> str:
    """One word for admins: the individual's verification status, else what Stripe lacks."""
    individual = (data.get("individual") or {}).get("verification") or {}
    if individual.get("status"):
        return str(individual["status"])[:32]
    if requirements.get("disabled_reason"):
        return "disabled"
    if requirements.get("pending_verification"):
        return "pending"
    if requirements.get("currently_due") or requirements.get("past_due"):
        return "unverified"
    return "verified" if data.get("charges_enabled") and data.get("payouts_enabled") else "pending"


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


# --- onboarding -------------------------------------------------------------------------------


def start_onboarding(coach_id: int, country: str) -> StripeConnectedAccount:
    """The coach's Express account, created at Stripe the first time only."""
    _lock_row(User, coach_id)  # two clicks at once: the second waits, then finds the account
    coach = db.session.get(User, coach_id)
    if coach is None:
        raise LookupError(coach_id)
    if not coach.email_verified:
        raise EmailNotVerified()  # Stripe mails payout news to this address
    db.session.refresh(coach, ["stripe_connected_account"])
    if coach.stripe_connected_account is not None:
        return coach.stripe_connected_account
    data = gateway.create_express_account(
        email=coach.email,
        country=country,
        idempotency_key=idempotency_key("connect-account", coach),
        schedule=stripe_schedule(),
        metadata={"user_id": str(coach.id), "payout_schedule": _schedule_of(coach).value},
    )
    account = StripeConnectedAccount(
        user_id=coach.id, stripe_account_id=data["id"], country=country.upper()
    )
    mirror_account(account, data)
    coach.stripe_connect_account_id = data["id"]
    db.session.add(account)
    db.session.flush()
    logger.info("Coach %s has connected account %s", coach.id, data["id"])
    return account


def onboarding_link(account: StripeConnectedAccount, *, refresh_url: str, return_url: str) -> str:
    """A fresh single-use link into Stripe's hosted onboarding."""
    return gateway.create_onboarding_link(
        account.stripe_account_id, refresh_url=refresh_url, return_url=return_url
    )


def account_as_stripe_has_it(coach_id: int) -> StripeConnectedAccount | None:
    """The coach's account as Stripe holds it right now, for showing only (never stored).

    The stored row changes through `account.updated` alone: a snapshot read here could be
    overtaken by an older event still on its way, which would then roll the row back.
    """
    stored = _account_of(coach_id)
    if stored is None:
        return None
    data = gateway.retrieve_account(stored.stripe_account_id)
    snapshot = StripeConnectedAccount(
        user_id=stored.user_id,
        stripe_account_id=stored.stripe_account_id,
        country=stored.country,
    )
    mirror_account(snapshot, data)
    return snapshot


def applied_account_update_since(
    stripe_account_id: str, event: Mapping[str, Any]
) -> datetime | None:
    """When the newest `account.updated` for this account that was applied already, other than
    `event`, was created at Stripe, if that is in `event`'s second or later; else None.

    For the `account.updated` handler: each event carries the whole account, so an older one
    arriving late must not overwrite a newer one, and one of the same second (Stripe's `created`
    has no finer grain) cannot say which is newer.
    """
    created = event.get("created")
    if not isinstance(created, int):
        return None
    return db.session.scalar(
        sa.select(sa.func.max(StripeEvent.stripe_created_at)).where(
            StripeEvent.type == "account.updated",
            StripeEvent.account == stripe_account_id,
            StripeEvent.status == EventStatus.PROCESSED,
            StripeEvent.stripe_created_at >= datetime.fromtimestamp(created, UTC),
            StripeEvent.stripe_event_id != event.get("id"),
        )
    )


def express_dashboard_link(coach_id: int) -> str:
    account = _account_of(coach_id)
    if account is None or not account.details_submitted:
        raise NotPayable(
            "Finish setting up payouts with Stripe first; then your Stripe dashboard opens."
        )
    return gateway.create_login_link(account.stripe_account_id)


# --- payout settings --------------------------------------------------------------------------


def stripe_schedule() -> dict[str, Any]:
    """Stripe's schedule for every coach's account: manual, because the portal pays out."""
    return {"interval": "manual"}


def update_payout_settings(
    coach_id: int, *, schedule: PayoutSchedule, minimum_payout: Decimal
) -> CoachProfile:
    """Save the coach's schedule and minimum; tell Stripe (first) when the schedule changed."""
    profile = _profile_of(coach_id)
    account = _account_of(coach_id)
    if account is not None and schedule != profile.payout_schedule:
        gateway.update_payout_schedule(
            account.stripe_account_id,
            stripe_schedule(),
            metadata={"payout_schedule": schedule.value},
        )
    profile.payout_schedule = schedule
    profile.minimum_payout = minimum_payout.quantize(CENTS)
    db.session.flush()
    return profile


def is_payout_day(schedule: PayoutSchedule, day: date) -> bool:
    """When `flask payouts run` pays a coach: daily every day, weekly Mondays, monthly the 1st."""
    if schedule is PayoutSchedule.DAILY:
        return True
    if schedule is PayoutSchedule.WEEKLY:
        return day.weekday() == 0
    if schedule is PayoutSchedule.MONTHLY:
        return day.day == 1
    return False  # instant: the coach pays out on demand


def next_payout_day(schedule: PayoutSchedule, today: date) -> date | None:
    if schedule is PayoutSchedule.INSTANT:
        return None
    day = today
    while not is_payout_day(schedule, day):
        day += timedelta(days=1)
    return day


# --- payouts ----------------------------------------------------------------------------------


def pay_out_now(coach_id: int, *, confirmed_amount: Decimal, attempt: str) -> Payout:
    """An on-demand payout of the whole available balance, which the coach has just confirmed.

    `attempt` names the confirmation: the same one again is a retry and pays out at most once.
    """
    profile = _profile_of(coach_id)
    account = _payable_account(coach_id)
    _check_on_demand(profile)
    lock_account(account)
    available = ledger.balances_of(coach_id).available
    if available <= ZERO:
        raise NothingToPayOut("Nothing is available to pay out right now.")
    if available != confirmed_amount:
        raise BalanceChanged(
            "Your available balance changed while you were confirming. Check the new amount "
            "and confirm again."
        )
    return _create_payout(
        coach_id, account, available, profile.currency, kind="payout-now", attempt=attempt
    )


@dataclass(frozen=True)
class InstantOffer:
    """An instant payout the coach may confirm: `preview` of what arrives and Stripe's fee, and
    the debit card Stripe pays (e.g. "Visa debit card ending 5556")."""

    preview: instant.InstantPreview
    card: str


class InstantNotAvailable(PayoutError):
    """Stripe cannot pay this coach instantly now; `message` says why and what would help."""


def instant_offer(coach_id: int) -> InstantOffer:
    """What "Pay out instantly" would pay now, or InstantNotAvailable (or a PayoutError) saying
    why not. Reads the account's external accounts from Stripe: only a debit card that Stripe
    lists with the `instant` payout method can receive one."""
    profile = _profile_of(coach_id)
    account = _payable_account(coach_id)
    _check_on_demand(profile)
    available = ledger.balances_of(coach_id).available
    if available <= ZERO:
        raise NothingToPayOut("Nothing is available to pay out right now.")
    card = gateway.instant_payout_card(account.stripe_account_id)
    if card is None:
        raise InstantNotAvailable(
            "Stripe pays instant payouts only to a debit card, and your account has none that "
            "can receive them. Add a debit card in your Stripe dashboard, or use “Pay out now” "
            "for a free bank transfer."
        )
    preview = _instant_preview(available, profile.currency)
    if preview.arrives <= ZERO:
        fee = format_money(preview.fee or _instant_minimum(), profile.currency)
        raise InstantNotAvailable(
            f"Your available balance of {format_money(available, profile.currency)} does not "
            f"cover Stripe's minimum instant payout fee of {fee}. Use “Pay out now” instead."
        )
    brand = str(card.get("brand") or "Debit")
    return InstantOffer(preview=preview, card=f"{brand} debit card ending {card.get('last4')}")


def pay_out_instantly(coach_id: int, *, confirmed_amount: Decimal, attempt: str) -> Payout:
    """An instant payout of `confirmed_amount` (what the coach saw arrive), once per `attempt`.

    Refused if the available balance moved so that the amount arriving would differ; Stripe
    then takes the amount and its fee, which `record_stripe_payout` records as Stripe reports.
    """
    profile = _profile_of(coach_id)
    account = _payable_account(coach_id)
    _check_on_demand(profile)
    lock_account(account)
    available = ledger.balances_of(coach_id).available
    preview = _instant_preview(available, profile.currency)
    if preview.arrives <= ZERO:
        raise NothingToPayOut("Nothing is available to pay out instantly right now.")
    if preview.arrives != confirmed_amount:
        raise BalanceChanged(
            "Your available balance changed while you were confirming. Check the new amount "
            "and confirm again."
        )
    return _create_payout(
        coach_id,
        account,
        preview.arrives,
        profile.currency,
        kind="instant-payout",
        attempt=attempt,
        method="instant",
    )


def _instant_preview(available: Decimal, currency: str) -> instant.InstantPreview:
    config = current_app.config
    return instant.preview(
        available,
        currency,
        Decimal(config["INSTANT_PAYOUT_FEE_PERCENT"]),
        _instant_minimum(),
    )


def _instant_minimum() -> Decimal:
    return Decimal(current_app.config["INSTANT_PAYOUT_FEE_MINIMUM"])


def _check_on_demand(profile: CoachProfile) -> None:
    if profile.payout_schedule is not PayoutSchedule.INSTANT:
        raise PayoutError(
            f"Your payouts run on a {profile.payout_schedule.value} schedule. Choose "
            "“Instant” in your payout settings to pay out whenever you like."
        )


def coaches_due(day: date) -> list[int]:
    """Coaches `flask payouts run` should pay today: on a schedule, payouts enabled, and with
    available >= their minimum (and more than zero)."""
    rows = db.session.execute(
        sa.select(CoachProfile.user_id, CoachProfile.payout_schedule)
        .join(StripeConnectedAccount, StripeConnectedAccount.user_id == CoachProfile.user_id)
        .where(
            CoachProfile.payout_schedule != PayoutSchedule.INSTANT,
            StripeConnectedAccount.payouts_enabled.is_(True),
            CoachProfile.available_balance > 0,
            CoachProfile.available_balance >= CoachProfile.minimum_payout,
        )
        .order_by(CoachProfile.user_id)
    ).all()
    return [coach_id for coach_id, schedule in rows if is_payout_day(schedule, day)]


def pay_out_scheduled(coach_id: int, day: date) -> Payout | None:
    """The scheduled payout for one coach, if they are still due once their account is locked."""
    profile = _profile_of(coach_id)
    if not is_payout_day(profile.payout_schedule, day):
        return None
    account = _payable_account(coach_id)
    lock_account(account)
    available = ledger.balances_of(coach_id).available
    if available <= ZERO or available < profile.minimum_payout:
        return None
    return _create_payout(
        coach_id,
        account,
        available,
        profile.currency,
        kind="scheduled-payout",
        attempt=day.isoformat(),  # a rerun of the day's schedule retries; the next day is new
    )


def lock_account(account: StripeConnectedAccount) -> None:
    """Hold the account's row (as the webhook handlers do) until the caller commits."""
    _lock_row(StripeConnectedAccount, account.id)


def _create_payout(
    coach_id: int,
    account: StripeConnectedAccount,
    amount: Decimal,
    currency: str,
    *,
    kind: str,
    attempt: str,
    method: str = "standard",
) -> Payout:
    coach = db.session.get(User, coach_id)
    units = to_minor_units(amount, currency)
    data = gateway.create_payout(
        account.stripe_account_id,
        amount=units,
        currency=currency,
        method=method,
        idempotency_key=idempotency_key(kind, coach, currency, units, attempt),
        metadata={"coach_id": str(coach_id), "requested_by": kind},
    )
    payout = record_stripe_payout(account, data)
    logger.info("Coach %s: payout %s of %s %s (%s)", coach_id, data["id"], amount, currency, kind)
    return payout


# --- the platform fee -------------------------------------------------------------------------


def change_platform_fee(actor_id: int, coach_id: int, percentage: Decimal) -> CoachProfile:
    """Set the coach's platform fee for bookings made from now on, with an audit record.

    Bookings already made keep the fee they were priced with: their amounts are stored on the
    session and the transaction.
    """
    profile = _profile_of(coach_id)
    percentage = percentage.quantize(CENTS)
    before = profile.platform_fee_percentage
    if before == percentage:
        return profile
    profile.platform_fee_percentage = percentage
    db.session.add(
        AuditLog(
            actor_id=actor_id,
            action="coach.platform_fee_changed",
            target_type="coach_profile",
            target_id=str(coach_id),
            before={"platform_fee_percentage": str(before)},
            after={"platform_fee_percentage": str(percentage)},
        )
    )
    db.session.flush()
    return profile


# --- reading ----------------------------------------------------------------------------------


def coach_profile(coach_id: int) -> CoachProfile | None:
    return db.session.scalar(sa.select(CoachProfile).where(CoachProfile.user_id == coach_id))


def _profile_of(coach_id: int) -> CoachProfile:
    profile = coach_profile(coach_id)
    if profile is None:
        raise LookupError(f"user {coach_id} has no coach profile")
    return profile


def _account_of(coach_id: int) -> StripeConnectedAccount | None:
    return db.session.scalar(
        sa.select(StripeConnectedAccount).where(StripeConnectedAccount.user_id == coach_id)
    )


def account_of(coach_id: int) -> StripeConnectedAccount | None:
    return _account_of(coach_id)


def _payable_account(coach_id: int) -> StripeConnectedAccount:
    account = _account_of(coach_id)
    if account is None or not account.payouts_enabled:
        raise NotPayable(
            "Stripe has not enabled payouts on your account yet. Finish “Get paid” first."
        )
    return account


def _schedule_of(coach: User) -> PayoutSchedule:
    return coach.coach_profile.payout_schedule if coach.coach_profile else PayoutSchedule.INSTANT


def _lock_row(model: type[User] | type[StripeConnectedAccount], row_id: int) -> None:
    """Take the row's write lock for this transaction, on PostgreSQL and SQLite alike.

    An UPDATE locks the row on PostgreSQL like `SELECT ... FOR UPDATE` does, and on SQLite it
    takes the database's write lock, so a concurrent writer (another click, a webhook) waits
    for our commit instead of racing us.
    """
    db.session.execute(
        sa.update(model)
        .where(model.id == row_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
