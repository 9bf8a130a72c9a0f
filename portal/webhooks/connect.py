"""Handlers for the events that are the ledger's or Connect's business.

- `balance.available` (a connected account's event, carrying its Balance): releases each of the
  coach's payments Stripe reports available now (`payouts.release_funds`); its snapshot of the
  balance is not used, so a late, repeated or stale event does no harm.
- `payout.*`: creates or updates the `payouts` row; status only moves forward (pending ->
  in_transit -> paid | failed | canceled, and paid may still fail, as Stripe does). The payout's
  amount leaves the available balance on first sight and comes back when it fails or is
  canceled.
- `account.updated`: mirrors the connected account's state into `stripe_connected_accounts`,
  for that account only; an event older than one already applied changes nothing. Stripe's
  `created` has whole seconds, so when another update of the same second was applied already,
  which one is newer is unknowable from the events: the account is read from Stripe instead.
  Returning from onboarding is not completion; this event is. A need Stripe newly lists is
  mailed to the coach (`payouts.notices`).
- `charge.dispute.*`: flags the transaction for admins in its metadata (status, reason, amount,
  Stripe's fee, the funds withdrawn and reinstated, the evidence deadline), moving forward only:
  an older event about a dispute seen further along changes nothing. On `lost`, the coach's share
  is recovered here when `DISPUTE_LOST_COACH_SHARE` is `recover_automatically`. A
  dispute on a destination charge is the platform's: the coach's balance does not move. If the
  platform recovers the money from the coach (a transfer reversal, an admin decision), that
  action calls `ledger.record_dispute_reversal`. The coach and the admins are mailed of a
  dispute the first time the portal applies one of its events (`disputes.tell_of_new_dispute`).

An event about an account the portal does not know is ignored with a log line, not failed:
retrying it would never succeed. A dispute of a payment the portal has not recorded yet waits
for it (`wait_for`): the runner applies it once the payment's own event is applied.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from portal import disputes, ledger
from portal.models import (
    StripeConnectedAccount,
    Transaction,
)
from portal.money import from_minor_units, normalise_currency
from portal.payouts import notices as payout_notices
from portal.payouts import services as payouts
from portal.stripe_gateway import connect as connect_gateway
from portal.stripe_gateway import disputes as dispute_gateway
from portal.webhooks import IGNORED, Event, WaitFor, wait_for

logger = logging.getLogger("portal.webhooks")


def _object(event: Event) -> dict[str, Any]:
    return event["data"]["object"]


def _ignore(event: Event, why: str) -> str:
    logger.info("Stripe event %s (%s) ignored: %s", event.get("id"), event.get("type"), why)
    return IGNORED


# --- balance ----------------------------------------------------------------------------------


def balance_available(event: Event) -> str | None:
    """Stripe released funds on a coach's account: release the payments it made available.

    The event's own snapshot of the balance is not used: it may arrive late, twice or after
    a later one, and money may have moved since (`payouts.release_funds` asks Stripe)."""
    account = payouts.connected_account_for(event.get("account"), lock=True)
    if account is None:
        return _ignore(event, f"no coach has connected account {event.get('account')}")
    payouts.release_funds(account.user_id, account.stripe_account_id)
    _note_release(account, event)
    return None


def _note_release(account: StripeConnectedAccount, event: Event) -> None:
    created = event.get("created")
    if isinstance(created, int):
        released = datetime.fromtimestamp(created, UTC)
        if account.balance_released_at is None or account.balance_released_at < released:
            account.balance_released_at = released


# --- payouts ----------------------------------------------------------------------------------


def payout_changed(event: Event) -> str | None:
    account = payouts.connected_account_for(event.get("account"), lock=True)
    if account is None:
        return _ignore(event, f"no coach has connected account {event.get('account')}")
    # The same path records the payouts the portal creates itself (portal.payouts.services).
    payouts.record_stripe_payout(account, _object(event))
    return None


# --- connected accounts -----------------------------------------------------------------------


def account_updated(event: Event) -> str | None:
    data = _object(event)
    account = payouts.connected_account_for(data.get("id"), lock=True)
    if account is None:
        return _ignore(event, f"no coach has connected account {data.get('id')}")
    applied = payouts.applied_account_update_since(account.stripe_account_id, event)
    if applied is not None and applied > datetime.fromtimestamp(event["created"], UTC):
        return _ignore(event, "a newer account.updated for this account was applied already")
    if applied is not None:  # one of the same second: ask Stripe which state is the latest
        data = connect_gateway.retrieve_account(account.stripe_account_id)
    before = account.requirements
    payouts.mirror_account(account, data)
    payout_notices.stripe_needs_more(account, before)
    return None


# --- disputes ---------------------------------------------------------------------------------


DISPUTE_CLOSED = ("won", "lost", "warning_closed", "prevented")
_DISPUTE_STAGE = {"warning_needs_response": 0, "needs_response": 0, "warning_under_review": 1}
_DISPUTE_STAGE |= {"under_review": 1} | dict.fromkeys(DISPUTE_CLOSED, 2)


def dispute_changed(event: Event) -> str | WaitFor | None:
    """Every dispute event: the transaction's flag follows the dispute forward, never back."""
    data = _object(event)
    payment_intent = data.get("payment_intent")
    transaction = (
        ledger.lock_payment(
            sa.select(Transaction)
            .where(Transaction.stripe_payment_intent_id == payment_intent)
            .order_by(Transaction.id)
            .limit(1)
        )
        if payment_intent
        else None
    )
    if transaction is None:
        if payment_intent:  # the payment is not recorded yet: keep the dispute until it is
            return wait_for(payment_intent)
        return _ignore(event, "the dispute names no payment")
    currency = normalise_currency(data.get("currency") or transaction.currency)
    previous = (transaction.meta or {}).get("dispute") or {}
    status = str(data.get("status") or "")
    moves = len(data.get("balance_transactions") or [])
    stage = (_DISPUTE_STAGE.get(status, 0), moves)
    if stage < (_DISPUTE_STAGE.get(previous.get("status"), 0), previous.get("moves", 0)):
        return None  # an older event about a dispute the portal has seen further along
    details = data.get("evidence_details") or {}
    funds = dispute_gateway.funds_of(data)
    transaction.meta = {
        **(transaction.meta or {}),
        "dispute": {
            **previous,
            "id": data.get("id"),
            "status": status,
            "reason": data.get("reason"),
            "amount": str(from_minor_units(int(data.get("amount") or 0), currency)),
            "fee": str(from_minor_units(funds.fee, currency)),
            "withdrawn": str(from_minor_units(funds.withdrawn, currency)),
            "reinstated": str(from_minor_units(funds.reinstated, currency)),
            "moves": moves,
            "currency": currency,
            "due_by": details.get("due_by"),
            "submitted": int(details.get("submission_count") or 0) > 0,
            "closed": status in DISPUTE_CLOSED,
            "needs_review": True,
            "event": event["id"],
        },
    }
    disputes.tell_of_new_dispute(transaction)
    if status == "lost" and previous.get("status") != "lost":
        _recover_if_the_platform_does_so(transaction)
    return None


def _recover_if_the_platform_does_so(transaction: Transaction) -> None:
    """On `lost`, with `DISPUTE_LOST_COACH_SHARE=recover_automatically`, recover the share now."""
    if disputes.lost_dispute_policy() != disputes.RECOVER_AUTOMATICALLY:
        return
    refusal = disputes.recovery_refusal(transaction)
    if refusal is not None:
        logger.info("Lost dispute on transaction %s: no recovery (%s)", transaction.id, refusal)
        return
    disputes.recover_coach_share(transaction.id)
