"""Does the portal agree with Stripe? Payments, refunds and payouts of a period, compared.

What `reconcile(since, until)` promises (`until` inclusive, whole UTC days):

- Every charge Stripe made in the period is matched to the portal's transaction by its
  PaymentIntent: a destination charge (or one naming a booking) to a session payment, any other
  charge to a membership payment (the membership's invoices are the portal's only other
  charges). Every payment the portal recorded in the period is matched to Stripe's charge.
  Refunds match by refund id, payouts (on every connected account) by payout id. Each pair is
  checked for amount (in minor units, currency included) and status.
- An object near the period's edge may sit on one side of midnight in the portal and the other
  at Stripe, so before calling something missing it is looked up directly on the other side.
- What Stripe computed is compared with what the portal recorded (DESIGN rule 7): the transfer
  reversal of each succeeded refund, and each payment's application fee refunds in total;
  each dispute's status, amount, fee and funds withdrawn and reinstated against the
  transaction's dispute flag; the platform's fees net of fee refunds, per currency; and, now,
  each coach's pending and available against the balance of their connected account.
- Each mismatch says what differs; `ledger.verify()`'s drift is reported alongside, and the
  platform's balance transactions are summed by type for a look at the money itself.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from portal import ledger
from portal.extensions import db
from portal.models import (
    CoachProfile,
    Payout,
    Refund,
    RefundStatus,
    StripeConnectedAccount,
    Transaction,
    TransactionType,
)
from portal.money import from_minor_units, normalise_currency, to_minor_units
from portal.stripe_gateway import InvalidRequest
from portal.stripe_gateway import connect as connect_gateway
from portal.stripe_gateway import disputes as disputes_gateway
from portal.stripe_gateway import reconciliation as gateway
from portal.stripe_gateway import refunds as refunds_gateway

logger = logging.getLogger("portal.admin.reconciliation")

MISSING_IN_PORTAL = "missing in portal"
MISSING_AT_STRIPE = "missing at Stripe"
AMOUNT_DIFFERS = "amount differs"
STATUS_DIFFERS = "status differs"
REVERSAL_DIFFERS = "transfer reversal differs"
FEE_REFUNDS_DIFFER = "application fee refunds differ"
DISPUTE_FEE_DIFFERS = "dispute fee differs"
DISPUTE_FUNDS_DIFFER = "dispute funds withdrawn or reinstated differ"

_REFUND_STATUSES = {"requires_action": "pending"}


@dataclass(frozen=True)
class Mismatch:
    kind: str  # payment, refund, payout, dispute, platform fees, balance
    problem: str
    stripe_id: str
    portal_id: int | None = None
    portal_value: str = ""
    stripe_value: str = ""

    def __str__(self) -> str:
        where = f" (portal #{self.portal_id})" if self.portal_id is not None else ""
        values = ""
        if self.portal_value or self.stripe_value:
            values = f": portal {self.portal_value or '-'}, Stripe {self.stripe_value or '-'}"
        return f"{self.kind} {self.stripe_id}{where} {self.problem}{values}"


@dataclass
class Report:
    since: date
    until: date
    mismatches: list[Mismatch] = field(default_factory=list)
    compared: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    balance: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    drift: list[ledger.Drift] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not self.mismatches and not self.drift


def period_bounds(since: date, until: date) -> tuple[datetime, datetime]:
    start = datetime.combine(since, time(0), tzinfo=UTC)
    if until == date.max:  # through the calendar's last day, whose next day Python cannot make
        return start, datetime.combine(until, time.max, tzinfo=UTC)
    return start, datetime.combine(until + timedelta(days=1), time(0), tzinfo=UTC)


STEPS = ("payments", "refunds", "payouts", "disputes", "fees", "balance", "ledger")


def _made_in(
    model: type[Transaction | Refund | Payout], start: datetime, end: datetime
) -> sa.ColumnElement[bool]:
    """The condition that a row was made in the period: from its first moment, before its end."""
    return sa.and_(model.created_at >= start, model.created_at < end)


def reconcile(since: date, until: date, *, on_step: Callable[[str], None] | None = None) -> Report:
    """Compare the period; raises GatewayError when Stripe cannot be read.

    `on_step(name)` is told as each of STEPS begins, for a stored run's progress.
    """
    if until < since:
        raise ValueError("The period ends before it starts; swap the dates.")
    step = on_step or (lambda name: None)
    report = Report(since, until)
    start, end = period_bounds(since, until)
    window = (int(start.timestamp()), int(end.timestamp()))
    step("payments")
    _payments(report, start, end, window)
    step("refunds")
    _refunds(report, start, end, window)
    _refund_splits(report, start, end)
    step("payouts")
    _payouts(report, start, end, window)
    step("disputes")
    _disputes(report, window)
    step("fees")
    _platform_fees(report, start, end, window)
    step("balance")
    _coach_balances(report)
    _balance(report, window)
    step("ledger")
    report.drift = ledger.verify()
    db.session.rollback()  # read-only: release what the reads hold
    return report


# --- payments ---------------------------------------------------------------------------------


def _is_session_charge(charge: dict[str, Any]) -> bool:
    return bool(
        charge.get("transfer_data")
        or charge.get("application_fee_amount")
        or (charge.get("metadata") or {}).get("booking_id")
    )


def _expected_status(charge: dict[str, Any]) -> str:
    status = charge.get("status")
    if status != "succeeded":
        return str(status)
    refunded = int(charge.get("amount_refunded") or 0)
    if refunded >= int(charge["amount"]):
        return "refunded"
    return "partially_refunded" if refunded else "completed"


# What each type of payment is called in the report: its mismatches' kind, and its count.
_PAYMENT_KINDS = {
    TransactionType.SESSION_PAYMENT: ("payment", "payments"),
    TransactionType.SUBSCRIPTION_PAYMENT: ("membership payment", "membership payments"),
}


def _payments(report: Report, start: datetime, end: datetime, window: tuple[int, int]) -> None:
    recorded = {
        (t.type, t.stripe_payment_intent_id): t
        for t in db.session.scalars(
            sa.select(Transaction).where(
                Transaction.stripe_payment_intent_id.is_not(None),
                _made_in(Transaction, start, end),
            )
        )
    }
    seen: set[tuple[TransactionType, str]] = set()
    for charge in gateway.list_charges(*window):
        if charge.get("status") == "failed":
            continue  # a declined card: the portal records no payment for it
        type_ = (
            TransactionType.SESSION_PAYMENT
            if _is_session_charge(charge)
            else TransactionType.SUBSCRIPTION_PAYMENT
        )
        kind, counted = _PAYMENT_KINDS[type_]
        intent = _id(charge.get("payment_intent")) or charge["id"]
        seen.add((type_, intent))
        txn = recorded.get((type_, intent)) or _transaction_by_intent(intent, type_)
        report.compared[counted] += 1
        if txn is None:
            report.mismatches.append(
                Mismatch(kind, MISSING_IN_PORTAL, intent, stripe_value=_charge_money(charge))
            )
            continue
        _compare_payment(report, txn, charge)
    for (type_, intent), txn in recorded.items():
        if (type_, intent) in seen:
            continue
        kind, counted = _PAYMENT_KINDS[type_]
        report.compared[counted] += 1
        _compare_or_missing(report, kind, txn, intent, _charge_of_intent(intent), _compare_payment)


def _compare_payment(report: Report, txn: Transaction, charge: dict[str, Any]) -> None:
    intent = txn.stripe_payment_intent_id or charge["id"]
    kind, _ = _PAYMENT_KINDS[txn.type]
    currency = normalise_currency(charge.get("currency") or txn.currency)
    if currency != txn.currency or to_minor_units(txn.amount, txn.currency) != charge["amount"]:
        report.mismatches.append(
            Mismatch(
                kind,
                AMOUNT_DIFFERS,
                intent,
                txn.id,
                portal_value=f"{txn.amount} {txn.currency}",
                stripe_value=_charge_money(charge),
            )
        )
    expected = _expected_status(charge)
    if txn.status.value != expected:
        report.mismatches.append(
            Mismatch(
                kind,
                STATUS_DIFFERS,
                intent,
                txn.id,
                portal_value=txn.status.value,
                stripe_value=expected,
            )
        )


def _charge_money(charge: dict[str, Any]) -> str:
    currency = normalise_currency(charge.get("currency") or "usd")
    return f"{from_minor_units(int(charge['amount']), currency)} {currency}"


def _charge_of_intent(intent: str) -> dict[str, Any] | None:
    payment_intent = _retrieve(gateway.retrieve_payment_intent, intent)
    if payment_intent is None:
        return None
    charge = payment_intent.get("latest_charge")
    if isinstance(charge, dict):
        return charge
    # No charge (never confirmed): judge the PaymentIntent itself.
    return {
        "id": intent,
        "amount": payment_intent.get("amount", 0),
        "currency": payment_intent.get("currency"),
        "status": payment_intent.get("status"),
        "amount_refunded": 0,
    }


def _transaction_by_intent(
    intent: str, type_: TransactionType = TransactionType.SESSION_PAYMENT
) -> Transaction | None:
    return db.session.scalar(
        sa.select(Transaction).where(
            Transaction.stripe_payment_intent_id == intent, Transaction.type == type_
        )
    )


# --- refunds ----------------------------------------------------------------------------------


def _refunds(report: Report, start: datetime, end: datetime, window: tuple[int, int]) -> None:
    recorded = list(db.session.scalars(sa.select(Refund).where(_made_in(Refund, start, end))))
    seen = _compare_listed(
        report,
        "refund",
        "refunds",
        ((r, _charge_money(r)) for r in gateway.list_refunds(*window)),
        Refund.stripe_refund_id,
        {r.stripe_refund_id: r for r in recorded if r.stripe_refund_id},
        _compare_refund,
    )
    for refund in recorded:
        if refund.stripe_refund_id in seen:
            continue
        report.compared["refunds"] += 1
        if not refund.stripe_refund_id and refund.status is RefundStatus.FAILED:
            continue  # Stripe refused it when asked: there is nothing at Stripe to compare
        if not refund.stripe_refund_id:
            report.mismatches.append(
                Mismatch(
                    "refund",
                    MISSING_AT_STRIPE,
                    f"refund #{refund.id}",
                    refund.id,
                    portal_value=f"{refund.amount} {refund.currency}, {refund.status.value}",
                    stripe_value="never sent",
                )
            )
            continue
        stripe_refund = _retrieve(refunds_gateway.retrieve_refund, refund.stripe_refund_id)
        _compare_or_missing(
            report, "refund", refund, refund.stripe_refund_id, stripe_refund, _compare_refund
        )


def _compare_listed(
    report: Report,
    kind: str,
    counted: str,
    listed: Iterable[tuple[dict[str, Any], str]],
    stripe_id_column: Any,
    recorded: dict[str, Any],
    compare: Callable[[Report, Any, dict[str, Any]], None],
) -> set[str]:
    """Each object Stripe listed (with how to show it) against the portal's row of the same
    Stripe id, among `recorded` or else anywhere: missing in portal, or compared by `compare`.
    Returns the ids listed."""
    seen: set[str] = set()
    for stripe_object, shown in listed:
        stripe_id = stripe_object["id"]
        seen.add(stripe_id)
        report.compared[counted] += 1
        row = recorded.get(stripe_id) or db.session.scalar(
            sa.select(stripe_id_column.class_).where(stripe_id_column == stripe_id)
        )
        if row is None:
            report.mismatches.append(
                Mismatch(kind, MISSING_IN_PORTAL, stripe_id, stripe_value=shown)
            )
        else:
            compare(report, row, stripe_object)
    return seen


def _compare_or_missing(
    report: Report,
    kind: str,
    row: Transaction | Refund | Payout,
    stripe_id: str,
    stripe_object: dict[str, Any] | None,
    compare: Callable[[Report, Any, dict[str, Any]], None],
) -> None:
    """A portal row against Stripe's copy: missing at Stripe, or compared by `compare`."""
    if stripe_object is None:
        report.mismatches.append(
            Mismatch(
                kind,
                MISSING_AT_STRIPE,
                stripe_id,
                row.id,
                portal_value=f"{row.amount} {row.currency}",
            )
        )
    else:
        compare(report, row, stripe_object)


def _compare_refund(report: Report, refund: Refund, stripe_refund: dict[str, Any]) -> None:
    status = str(stripe_refund.get("status"))
    _compare_amount_and_status(
        report, "refund", refund, stripe_refund, stripe_status=_REFUND_STATUSES.get(status, status)
    )


def _compare_amount_and_status(
    report: Report,
    kind: str,
    row: Refund | Payout,
    stripe_object: dict[str, Any],
    *,
    stripe_status: str,
) -> None:
    """A mismatch for each of amount (with currency) and status that differ from Stripe's."""
    currency = normalise_currency(stripe_object.get("currency") or row.currency)
    units = to_minor_units(row.amount, row.currency)
    if currency != row.currency or units != stripe_object["amount"]:
        report.mismatches.append(
            Mismatch(
                kind,
                AMOUNT_DIFFERS,
                stripe_object["id"],
                row.id,
                portal_value=f"{row.amount} {row.currency}",
                stripe_value=_charge_money(stripe_object),
            )
        )
    if row.status.value != stripe_status:
        report.mismatches.append(
            Mismatch(
                kind,
                STATUS_DIFFERS,
                stripe_object["id"],
                row.id,
                portal_value=row.status.value,
                stripe_value=stripe_status,
            )
        )


def _refund_splits(report: Report, start: datetime, end: datetime) -> None:
    """Each succeeded refund's transfer reversal, and each payment's fee refunds, as Stripe's."""
    refunds = db.session.scalars(
        sa.select(Refund)
        .where(
            _made_in(Refund, start, end),
            # A refund that failed after it succeeded keeps its reversal and fee refund.
            sa.or_(Refund.status == RefundStatus.SUCCEEDED, Refund.transfer_reversed.is_not(None)),
            Refund.stripe_refund_id.is_not(None),
        )
        .order_by(Refund.id)
    ).all()
    fee_refunded_at_stripe: dict[int, int] = {}
    for refund in refunds:
        stripe_refund = _retrieve(refunds_gateway.retrieve_refund, refund.stripe_refund_id)
        if stripe_refund is None:
            continue  # reported missing by _refunds
        split = refunds_gateway.split_of(stripe_refund)
        report.compared["refund splits"] += 1
        currency = refund.currency
        recorded = refund.transfer_reversed
        if recorded is None or to_minor_units(recorded, currency) != split.transfer_reversed:
            report.mismatches.append(
                Mismatch(
                    "refund",
                    REVERSAL_DIFFERS,
                    refund.stripe_refund_id or "",
                    refund.id,
                    portal_value=f"{recorded if recorded is not None else '-'} {currency}",
                    stripe_value=_money(split.transfer_reversed, currency),
                )
            )
        fee_refunded_at_stripe[refund.transaction_id] = split.fee_refunded_to_date
    for transaction_id, units in fee_refunded_at_stripe.items():
        txn = db.session.get(Transaction, transaction_id)
        ours = sum(
            (r.platform_fee_refunded for r in txn.refunds if _moved_at_stripe(r)),
            Decimal("0"),
        )
        if to_minor_units(ours, txn.currency) != units:
            report.mismatches.append(
                Mismatch(
                    "payment",
                    FEE_REFUNDS_DIFFER,
                    txn.stripe_payment_intent_id or "",
                    txn.id,
                    portal_value=f"{ours} {txn.currency}",
                    stripe_value=f"{from_minor_units(units, txn.currency)} {txn.currency}",
                )
            )


# --- disputes ---------------------------------------------------------------------------------


def _disputes(report: Report, window: tuple[int, int]) -> None:
    """Each dispute Stripe opened against the transaction's flag: status, amount and fee."""
    for dispute in gateway.list_disputes(*window):
        report.compared["disputes"] += 1
        intent = _id(dispute.get("payment_intent")) or ""
        txn = _transaction_by_intent(intent)
        flag = ((txn.meta or {}).get("dispute") or {}) if txn is not None else {}
        if flag.get("id") != dispute["id"]:
            report.mismatches.append(
                Mismatch(
                    "dispute",
                    MISSING_IN_PORTAL,
                    dispute["id"],
                    txn.id if txn is not None else None,
                    stripe_value=f"{_charge_money(dispute)}, {dispute.get('status')}",
                )
            )
            continue
        currency = normalise_currency(dispute.get("currency") or txn.currency)
        funds = disputes_gateway.funds_of(dispute)
        withdrawn = from_minor_units(funds.withdrawn, currency)
        reinstated = from_minor_units(funds.reinstated, currency)
        for problem, ours, theirs in (
            (STATUS_DIFFERS, flag.get("status"), dispute.get("status")),
            (
                AMOUNT_DIFFERS,
                flag.get("amount"),
                str(from_minor_units(dispute["amount"], currency)),
            ),
            (DISPUTE_FEE_DIFFERS, flag.get("fee"), str(from_minor_units(funds.fee, currency))),
            (
                DISPUTE_FUNDS_DIFFER,
                f"withdrawn {flag.get('withdrawn', '-')}, reinstated {flag.get('reinstated', '-')}",
                f"withdrawn {withdrawn}, reinstated {reinstated}",
            ),
        ):
            if ours != theirs:
                report.mismatches.append(
                    Mismatch(
                        "dispute",
                        problem,
                        dispute["id"],
                        txn.id,
                        portal_value=str(ours or "-"),
                        stripe_value=str(theirs),
                    )
                )


# --- platform fees and coaches' balances -------------------------------------------------------


def _platform_fees(report: Report, start: datetime, end: datetime, window: tuple[int, int]) -> None:
    """The platform's fees of the period net of fee refunds, per currency, against Stripe's."""
    ours: dict[str, int] = defaultdict(int)
    paid = db.session.scalars(
        sa.select(Transaction).where(
            Transaction.type == TransactionType.SESSION_PAYMENT,
            Transaction.stripe_payment_intent_id.is_not(None),
            Transaction.status.in_(ledger.PAID_TRANSACTION_STATUSES),
            _made_in(Transaction, start, end),
        )
    ).all()
    for txn in paid:
        refunded = sum(
            (r.platform_fee_refunded for r in txn.refunds if _moved_at_stripe(r)),
            Decimal("0"),
        )
        ours[txn.currency] += to_minor_units(txn.platform_fee - refunded, txn.currency)
    theirs: dict[str, int] = defaultdict(int)
    for fee in gateway.list_application_fees(*window):
        currency = normalise_currency(fee.get("currency") or "usd")
        theirs[currency] += int(fee["amount"]) - int(fee.get("amount_refunded") or 0)
    for currency in sorted(set(ours) | set(theirs)):
        report.compared["platform fees"] += 1
        if ours.get(currency, 0) != theirs.get(currency, 0):
            report.mismatches.append(
                Mismatch(
                    "platform fees",
                    AMOUNT_DIFFERS,
                    currency,
                    portal_value=f"{from_minor_units(ours.get(currency, 0), currency)} {currency}",
                    stripe_value=(
                        f"{from_minor_units(theirs.get(currency, 0), currency)} {currency}"
                    ),
                )
            )


def _coach_balances(report: Report) -> None:
    """Each coach's pending and available now, against their connected account's balance."""
    rows = db.session.execute(
        sa.select(
            CoachProfile.user_id,
            CoachProfile.currency,
            CoachProfile.pending_balance,
            CoachProfile.available_balance,
            StripeConnectedAccount.stripe_account_id,
        )
        .join(StripeConnectedAccount, StripeConnectedAccount.user_id == CoachProfile.user_id)
        .order_by(CoachProfile.user_id)
    ).all()
    for coach_id, currency, pending, available, account in rows:
        balance = connect_gateway.retrieve_balance(account)
        report.compared["balances"] += 1
        for name, held in (("pending", pending), ("available", available)):
            units = sum(
                int(part["amount"])
                for part in balance.get(name) or []
                if normalise_currency(part.get("currency") or "") == currency
            )
            if to_minor_units(held, currency) != units:
                report.mismatches.append(
                    Mismatch(
                        "balance",
                        f"{name} differs",
                        account,
                        coach_id,
                        portal_value=f"{held} {currency}",
                        stripe_value=f"{from_minor_units(units, currency)} {currency}",
                    )
                )


# --- payouts ----------------------------------------------------------------------------------


def _payouts(report: Report, start: datetime, end: datetime, window: tuple[int, int]) -> None:
    accounts = db.session.execute(
        sa.select(StripeConnectedAccount.id, StripeConnectedAccount.stripe_account_id)
    ).all()
    account_of = dict(accounts)
    recorded = list(db.session.scalars(sa.select(Payout).where(_made_in(Payout, start, end))))
    seen = _compare_listed(
        report,
        "payout",
        "payouts",
        (
            (stripe_payout, f"{_charge_money(stripe_payout)} on {stripe_account}")
            for _, stripe_account in accounts
            for stripe_payout in gateway.list_payouts(stripe_account, *window)
        ),
        Payout.stripe_payout_id,
        {p.stripe_payout_id: p for p in recorded},
        _compare_payout,
    )
    for payout in recorded:
        if payout.stripe_payout_id in seen:
            continue
        report.compared["payouts"] += 1
        account = account_of.get(payout.connected_account_id)
        stripe_payout = (
            _retrieve(connect_gateway.retrieve_payout, account, payout.stripe_payout_id)
            if account
            else None
        )
        _compare_or_missing(
            report, "payout", payout, payout.stripe_payout_id, stripe_payout, _compare_payout
        )


def _compare_payout(report: Report, payout: Payout, stripe_payout: dict[str, Any]) -> None:
    _compare_amount_and_status(
        report, "payout", payout, stripe_payout, stripe_status=str(stripe_payout.get("status"))
    )


# --- balance ----------------------------------------------------------------------------------


def _balance(report: Report, window: tuple[int, int]) -> None:
    units: dict[tuple[str, str], int] = defaultdict(int)
    for movement in gateway.list_balance_transactions(*window):
        currency = normalise_currency(movement.get("currency") or "usd")
        units[(currency, str(movement.get("type")))] += int(movement.get("amount") or 0)
        units[(currency, "stripe fees")] -= int(movement.get("fee") or 0)
    report.balance = {
        key: from_minor_units(value, key[0]) for key, value in sorted(units.items()) if value
    }


# --- helpers ----------------------------------------------------------------------------------


def _money(units: int, currency: str) -> str:
    return f"{from_minor_units(units, currency)} {currency}"


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _retrieve(func: Any, *args: Any) -> dict[str, Any] | None:
    try:
        return func(*args)
    except InvalidRequest as exc:
        if exc.code == "resource_missing":
            return None
        raise


def _moved_at_stripe(refund: Refund) -> bool:
    """Whether Stripe reversed part of the transfer and refunded part of the fee for it."""
    return refund.status is RefundStatus.SUCCEEDED or refund.transfer_reversed is not None
