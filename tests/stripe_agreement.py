"""Does the portal agree with Stripe? Checks a test (or a randomized run) can make after any step.

`balance_disagreements(stripe)` compares every coach's pending and available balances with the
balance Stripe (the stand-in, or test mode) holds for their connected account, to the cent, and
names each one that differs, and each payout whose recorded fee is not the fee on Stripe's
balance transaction for it (an instant payout's); an empty list means they all agree.
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
import stripe as stripe_lib

from portal.extensions import db
from portal.models import CoachProfile, Payout, StripeConnectedAccount
from portal.money import normalise_currency, to_minor_units


def balance_disagreements(stripe: stripe_lib.StripeClient) -> list[str]:
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(
            CoachProfile.user_id,
            CoachProfile.currency,
            CoachProfile.pending_balance,
            CoachProfile.available_balance,
            StripeConnectedAccount.stripe_account_id,
        ).join(StripeConnectedAccount, StripeConnectedAccount.user_id == CoachProfile.user_id)
    ).all()
    problems = []
    for coach_id, currency, pending, available, account_id in rows:
        balance = stripe.v1.balance.retrieve(options={"stripe_account": account_id})
        theirs = {
            name: sum(
                part.amount
                for part in getattr(balance, name)
                if normalise_currency(part.currency) == currency
            )
            for name in ("pending", "available")
        }
        ours = {
            "pending": to_minor_units(pending, currency),
            "available": to_minor_units(available, currency),
        }
        if ours != theirs:
            problems.append(f"coach {coach_id} ({account_id}): portal {ours}, Stripe {theirs}")
        problems.extend(_payout_fee_disagreements(stripe, coach_id, account_id, currency))
    return problems


def _payout_fee_disagreements(
    stripe: stripe_lib.StripeClient, coach_id: int, account_id: str, currency: str
) -> list[str]:
    problems = []
    as_account = {"stripe_account": account_id}
    for payout in db.session.scalars(sa.select(Payout).where(Payout.user_id == coach_id)):
        theirs = stripe.v1.payouts.retrieve(
            payout.stripe_payout_id,
            params={"expand": ["balance_transaction"]},
            options=as_account,
        ).balance_transaction.fee
        ours = to_minor_units(Decimal((payout.meta or {}).get("fee") or "0"), currency)
        if ours != theirs:
            problems.append(
                f"payout {payout.stripe_payout_id}: fee {ours} here, {theirs} at Stripe"
            )
    return problems
