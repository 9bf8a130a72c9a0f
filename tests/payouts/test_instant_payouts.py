"""Instant payouts: Stripe's fee and what arrives shown before the coach confirms, the reason
when Stripe cannot pay instantly, and the fee Stripe charged recorded by the ledger, so the
coach's balance still equals Stripe's afterwards."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

from flask.testing import FlaskClient

from portal import ledger
from portal.extensions import db
from portal.models import LedgerEntry, LedgerEntryKind, Payout, User
from tests.live import onboard_coach
from tests.payouts.conftest import Live, balances, earn, post_form
from tests.stripe_agreement import balance_disagreements

DEBIT_CARD = "4000056655665556"
TWO_DAYS = 2 * 86400 + 1


def _earned_80(live: Live, coach: User, *, debit_card: str = DEBIT_CARD) -> str:
    account = onboard_coach(live.sandbox, coach, debit_card=debit_card)
    paid = live.destination_charge(account.stripe_account_id, 10000, 2000)
    earn(coach, "100.00", paid=paid)  # share 80.00
    live.advance(TWO_DAYS)
    assert balances(coach).available == Decimal("80.00")
    return account.stripe_account_id


def _confirmation(page: str) -> dict[str, str]:
    return dict(re.findall(r'name="(amount|attempt)" type="hidden" value="([^"]*)"', page))


def test_the_coach_sees_stripes_fee_and_what_arrives_then_the_ledger_records_stripes_fee(
    live: Live, coach: User, coach_client: FlaskClient
) -> None:
    account_id = _earned_80(live, coach)
    assert "Pay out instantly" in coach_client.get("/coach/earnings").text

    page = coach_client.get("/coach/earnings/pay-out/instant").text
    # Stripe takes 1% (at least 0.50) beside the amount: 79.21 arrives and 0.79 is the fee.
    assert '<dd data-amount="fee">$0.79</dd>' in page
    assert "Arrives on your Visa debit card ending 5556" in page
    assert "<strong>$79.21</strong>" in page
    fields = _confirmation(page)
    assert fields["amount"] == "79.21"

    done = post_form(coach_client, "/coach/earnings/pay-out/instant", **fields)
    assert done.status_code == 303, done.text
    live.flush()
    [payout] = db.session.scalars(db.select(Payout)).all()
    stripe_payout = live.stripe.v1.payouts.retrieve(
        payout.stripe_payout_id, options={"stripe_account": account_id}
    )
    txn = live.stripe.v1.balance_transactions.retrieve(
        stripe_payout.balance_transaction, options={"stripe_account": account_id}
    )
    assert stripe_payout.method == "instant" and stripe_payout.amount == 7921
    assert payout.amount == Decimal("79.21") and payout.meta["fee"] == "0.79" == f"{txn.fee / 100}"
    assert balances(coach).available == Decimal("0.00")
    assert balance_disagreements(live.stripe) == []
    assert ledger.verify() == [] and live.deliveries_failed() == []
    assert "instant, Stripe's fee $0.79" in coach_client.get("/coach/earnings").text
    year = payout.created_at.year
    statement = coach_client.get(f"/coach/earnings/statement/{year}.csv").text
    total = next(
        csv.DictReader(io.StringIO(statement.splitlines()[0] + "\n" + statement.splitlines()[-1]))
    )
    assert (total["paid_out"], total["payout_fees"]) == ("79.21", "0.79")


def test_a_double_clicked_instant_payout_pays_once(
    live: Live, coach: User, coach_client: FlaskClient
) -> None:
    _earned_80(live, coach)
    fields = _confirmation(coach_client.get("/coach/earnings/pay-out/instant").text)
    first = post_form(coach_client, "/coach/earnings/pay-out/instant", **fields)
    second = post_form(coach_client, "/coach/earnings/pay-out/instant", **fields)
    assert first.status_code == 303
    assert second.status_code in (303, 409)
    live.flush()
    assert len(db.session.scalars(db.select(Payout)).all()) == 1
    assert balance_disagreements(live.stripe) == [] and ledger.verify() == []


def test_an_instant_payout_made_at_stripe_is_recorded_with_the_fee_stripe_charged(
    live: Live, coach: User
) -> None:
    account_id = _earned_80(live, coach)
    # The coach pays out from Stripe's own dashboard: the portal hears of it by webhook only.
    live.stripe.v1.payouts.create(
        params={"amount": 5000, "currency": "usd", "method": "instant"},
        options={"stripe_account": account_id},
    )
    live.flush()
    [payout] = db.session.scalars(db.select(Payout)).all()
    fee = db.session.scalars(
        db.select(LedgerEntry).where(LedgerEntry.kind == LedgerEntryKind.PAYOUT_FEE)
    ).one()
    assert payout.amount == Decimal("50.00") and fee.available_delta == Decimal("-0.50")
    assert balances(coach).available == Decimal("29.50")
    assert balance_disagreements(live.stripe) == [] and ledger.verify() == []


def test_without_a_debit_card_the_page_says_why_no_instant_payout(
    live: Live, coach: User, coach_client: FlaskClient
) -> None:
    _earned_80(live, coach, debit_card="")
    page = coach_client.get("/coach/earnings/pay-out/instant").text
    assert "An instant payout is not possible right now." in page
    assert "only to a debit card" in page and 'name="attempt"' not in page
    refused = post_form(
        coach_client, "/coach/earnings/pay-out/instant", amount="79.21", attempt="a" * 20
    )
    assert refused.status_code in (303, 409)
    assert db.session.scalars(db.select(Payout)).all() == []
    assert balances(coach).available == Decimal("80.00")


def test_a_confirmed_amount_the_balance_no_longer_gives_is_refused(
    live: Live, coach: User, coach_client: FlaskClient
) -> None:
    _earned_80(live, coach)
    refused = post_form(
        coach_client, "/coach/earnings/pay-out/instant", amount="80.00", attempt="b" * 20
    )
    assert refused.status_code in (303, 409)
    follow = coach_client.get("/coach/earnings/pay-out/instant").text
    assert "balance changed" in follow
    assert db.session.scalars(db.select(Payout)).all() == []
