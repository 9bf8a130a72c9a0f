"""The coach's yearly statement: earnings, the platform's fees, what was taken back and what was
paid out, month by month, equal to the ledger to the cent, as CSV and as a printable page."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask

from portal import ledger
from portal.extensions import db
from portal.models import User
from portal.payouts import services
from tests.builders import make_connected_account
from tests.payouts.conftest import ATTEMPT, earn, profile_of, release, signed_in
from tests.stripe_fake import FakeStripe


def test_the_years_statement_adds_up_to_the_ledger_to_the_cent(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    make_connected_account(coach)
    profile = profile_of(coach)
    profile.platform_fee_percentage = Decimal("17.50")
    db.session.commit()
    disputed = earn(coach, "99.99")  # fee 17.50, share 82.49
    earn(coach, "45.55")  # fee 7.97, share 37.58
    release(coach, disputed)
    services.pay_out_now(coach.id, confirmed_amount=Decimal("82.49"), attempt=ATTEMPT)
    ledger.record_dispute_reversal(disputed, Decimal("82.49"), stripe_event_id="trr_1")
    db.session.commit()

    now = datetime.now(UTC)
    client = signed_in(app, coach)
    answer = client.get(f"/coach/earnings/statement/{now.year}.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = {r["month"]: r for r in csv.DictReader(io.StringIO(answer.text))}
    this_month = {k: v for k, v in rows[f"{now.year}-{now.month:02d}"].items() if k != "month"}
    assert this_month == {
        "earned": "120.07",
        "platform_fees": "25.47",
        "taken_back": "82.49",
        "paid_out": "82.49",
        "payout_fees": "0.00",
        "currency": "USD",
    }
    assert rows["total"]["earned"] == "120.07"
    balances = ledger.balances_of(coach.id)
    assert Decimal(rows["total"]["earned"]) - Decimal(rows["total"]["taken_back"]) == (
        balances.total
    )

    page = client.get(f"/coach/earnings/statement/{now.year}").text
    assert 'data-total="earned">$120.07' in page and 'data-total="paid_out">$82.49' in page
    assert client.get(f"/coach/earnings/statement/{now.year + 1}").status_code == 404
    empty = client.get(f"/coach/earnings/statement/{now.year - 1}.csv").text
    assert empty.splitlines()[-1] == "total,0.00,0.00,0.00,0.00,0.00,USD"
