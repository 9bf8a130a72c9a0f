"""What each payout paid for: the payments, refunds, recoveries and fees it covers.

What it promises:

- Stripe itemises a payout only when Stripe itself made it on the account's automatic schedule
  (`balance_transactions.list(payout=...)`, "for automatic Stripe payouts only"). The portal
  keeps every coach's account on Stripe's manual schedule, because Stripe knows nothing of the
  coach's minimum payout, and asks for each payout itself; Stripe cannot say which transactions
  such a payout contains. So a payout the portal asked for is itemised from the ledger, and the
  page says so (`source` is "ledger"); a payout Stripe made automatically is itemised from
  Stripe's balance transactions (`source` is "stripe").
- From the ledger: a payout covers, oldest first, the coach's earnings not covered by an earlier
  payout: every refund and lost-dispute recovery recorded before it (they were taken from the
  balance it paid out), its own instant fee, and payments, oldest first, up to its amount (the
  last one perhaps in part). A payout that failed or was canceled covers nothing (its money came
  back), but Stripe keeps an instant payout's fee, so that fee is covered by the next payout.
- Either way the lines add up to the payout's amount to the cent.
"""

from __future__ import annotations

import csv
import io
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    RETURNED_PAYOUT_STATUSES,
    LedgerEntry,
    LedgerEntryKind,
    Payout,
)
from portal.money import from_minor_units
from portal.stripe_gateway import connect as gateway

ZERO = Decimal("0.00")

# What Stripe's balance transaction types are, in the coach's words.
STRIPE_KINDS = {
    "payment": "Payment",
    "payment_refund": "Refund or lost-dispute recovery",
    "transfer_refund": "Refund or lost-dispute recovery",
    "application_fee_refund": "Platform fee given back",
    "payout": "Stripe's payout fee",
    "payout_failure": "A returned payout",
    "payout_cancel": "A canceled payout",
}


@dataclass(frozen=True)
class Line:
    at: datetime
    what: str
    amount: Decimal
    reference: str  # the portal's record, or Stripe's balance transaction


@dataclass(frozen=True)
class Composition:
    payout: Payout
    lines: tuple[Line, ...]
    source: str  # "stripe" (Stripe's itemisation) or "ledger" (the portal's)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


def composition_of(coach_id: int, payout_id: int) -> Composition:
    """The lines of one of the coach's payouts; LookupError if it is not theirs."""
    payout = db.session.get(Payout, payout_id)
    if payout is None or payout.user_id != coach_id:
        raise LookupError(payout_id)
    if (payout.meta or {}).get("automatic"):
        return Composition(payout, _from_stripe(payout), "stripe")
    return Composition(payout, _from_ledger(payout), "ledger")


def _from_stripe(payout: Payout) -> tuple[Line, ...]:
    lines = []
    account_id = payout.connected_account.stripe_account_id
    for txn in gateway.payout_balance_transactions(account_id, payout.stripe_payout_id):
        net = from_minor_units(int(txn["net"]), payout.currency)
        if txn["type"] == "payout":  # the payout itself: only its fee is a line
            net = -from_minor_units(int(txn["fee"]), payout.currency)
            if net == ZERO:
                continue
        at = datetime.fromtimestamp(int(txn["created"]), UTC)
        what = STRIPE_KINDS.get(txn["type"], str(txn.get("description") or txn["type"]))
        lines.append(Line(at, what, net, txn["id"]))
    return tuple(sorted(lines, key=lambda line: line.at))


@dataclass
class _Earning:
    entry: LedgerEntry
    left: Decimal


def _from_ledger(payout: Payout) -> tuple[Line, ...]:
    """Replay the coach's entries up to this payout, each earlier payout covering its part."""
    entries = db.session.scalars(
        sa.select(LedgerEntry)
        .where(
            LedgerEntry.coach_id == payout.user_id,
            LedgerEntry.kind != LedgerEntryKind.FUNDS_AVAILABLE,
        )
        .order_by(LedgerEntry.created_at, LedgerEntry.id)
    ).all()
    failed = sa.select(Payout.id).where(
        Payout.user_id == payout.user_id, Payout.status.in_(RETURNED_PAYOUT_STATUSES)
    )
    returned = set(db.session.scalars(failed))
    payments: deque[_Earning] = deque()
    taken: list[Line] = []  # refunds, recoveries and kept fees not yet covered by a payout
    for entry in entries:
        if entry.kind is LedgerEntryKind.PAYMENT:
            payments.append(_Earning(entry, entry.total_delta))
        elif entry.kind in (LedgerEntryKind.REFUND, LedgerEntryKind.DISPUTE):
            taken.append(_line(entry, entry.available_delta))
        elif entry.kind is LedgerEntryKind.PAYOUT_FEE and entry.payout_id in returned:
            taken.append(_line(entry, entry.available_delta))  # Stripe kept it
        elif entry.kind is LedgerEntryKind.PAYOUT and entry.payout_id not in returned:
            fee = _fee_of(entry.payout_id, entries)
            lines = [*taken, *([_line(fee, fee.available_delta)] if fee else [])]
            lines += _cover(payments, -entry.available_delta - sum(x.amount for x in lines))
            if entry.payout_id == payout.id:
                return tuple(lines)
            taken = []
    return ()  # a payout that failed or was canceled covered nothing


def _fee_of(payout_id: int | None, entries: list[LedgerEntry]) -> LedgerEntry | None:
    return next(
        (e for e in entries if e.kind is LedgerEntryKind.PAYOUT_FEE and e.payout_id == payout_id),
        None,
    )


def _cover(payments: deque[_Earning], amount: Decimal) -> list[Line]:
    """Take `amount` from the oldest payments not yet paid out (the last perhaps in part)."""
    lines = []
    while amount > ZERO and payments:
        earning = payments[0]
        part = min(earning.left, amount)
        what = "Payment" if part == earning.entry.total_delta else "Payment, in part"
        lines.append(_line(earning.entry, part, what))
        earning.left -= part
        amount -= part
        if earning.left == ZERO:
            payments.popleft()
    if amount != ZERO:  # never expected: the ledger's balance comes from these entries
        lines.append(Line(datetime.now(UTC), "Not matched to an earning", amount, ""))
    return lines


LEDGER_KINDS = {
    LedgerEntryKind.PAYMENT: "Payment",
    LedgerEntryKind.REFUND: "Refund",
    LedgerEntryKind.DISPUTE: "Recovered for a lost dispute",
    LedgerEntryKind.PAYOUT_FEE: "Stripe's instant payout fee",
}


def _line(entry: LedgerEntry, amount: Decimal, what: str | None = None) -> Line:
    if entry.transaction_id is not None:
        reference = f"payment {entry.transaction_id}"
    else:
        reference = f"payout {entry.payout_id}"
    return Line(entry.created_at, what or LEDGER_KINDS[entry.kind], amount, reference)


def as_csv(composition: Composition) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    payout = composition.payout
    writer.writerow(["date", "what", "amount", "currency", "reference", "itemised_by"])
    for line in composition.lines:
        writer.writerow(
            [
                line.at.strftime("%Y-%m-%d %H:%M"),
                line.what,
                line.amount,
                payout.currency,
                line.reference,
                composition.source,
            ]
        )
    writer.writerow(["", "total", composition.total, payout.currency, payout.stripe_payout_id, ""])
    return out.getvalue()
