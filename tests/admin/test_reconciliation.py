"""Reconciliation finds each kind of mismatch (missing either side, amount, status) in
payments, refunds and payouts, on the page and from `flask reconcile`, with the ledger's
verification beside it. Stripe is the one fake at the gateway seam."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal import ledger
from portal.admin import reconciliation, reconciliation_runs
from portal.extensions import db
from portal.models import (
    AuditLog,
    Payout,
    PayoutStatus,
    ReconciliationRun,
    Refund,
    RefundStatus,
    Transaction,
    TransactionStatus,
    TransactionType,
    User,
)
from portal.stripe_gateway import StripeUnavailable
from tests.admin.conftest import day, payment
from tests.builders import make_connected_account
from tests.conftest import csrf_token
from tests.stripe_fake import FakeStripe


def audit_actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)))


IN_PERIOD = 1_772_798_400  # 2026-03-06 12:00 UTC, inside 2026-03-01..2026-03-10


def _charge(intent: str, amount: int, *, refunded: int = 0, status: str = "succeeded") -> dict:
    return {
        "id": f"ch_{intent}",
        "payment_intent": intent,
        "amount": amount,
        "amount_refunded": refunded,
        "currency": "usd",
        "status": status,
        "created": IN_PERIOD,
        "transfer_data": {"destination": "acct_x"},
    }


@pytest.fixture
def world(app: Flask, coach: User, mentee: User, stripe_fake: FakeStripe) -> dict[str, Any]:
    """Agreeing rows and one of each disagreement; the comments say which."""
    account = make_connected_account(coach)
    ok = payment(mentee, coach, "100.00", at=day(3), intent="pi_ok")
    ledger.record_payment(ok)
    amount_off = payment(mentee, coach, "50.00", at=day(3), intent="pi_amount")
    ledger.record_payment(amount_off)
    status_off = payment(mentee, coach, "30.00", at=day(3), intent="pi_status")
    ledger.record_payment(status_off)
    only_portal = payment(mentee, coach, "20.00", at=day(4), intent="pi_portal_only")
    ledger.record_payment(only_portal)
    edge = payment(mentee, coach, "10.00", at=day(10, hour=23), intent="pi_edge")
    ledger.record_payment(edge)
    for intent, amount in (("pi_membership", "19.00"), ("pi_membership_off", "19.00")):
        payment(
            mentee,
            None,
            amount,
            fee="100",
            at=day(3),
            intent=intent,
            type_=TransactionType.SUBSCRIPTION_PAYMENT,
        )
    refunded = payment(
        mentee,
        coach,
        "60.00",
        at=day(2),
        intent="pi_refunded",
        status=TransactionStatus.PARTIALLY_REFUNDED,
    )
    ledger.record_payment(refunded)
    good_refund = Refund(
        transaction_id=refunded.id,
        stripe_refund_id="re_ok",
        status=RefundStatus.SUCCEEDED,
        amount=Decimal("15.00"),
        currency="USD",
        platform_fee_refunded=Decimal("3.00"),
        coach_share_reversed=Decimal("12.00"),
        transfer_reversed=Decimal("12.00"),
    )
    stuck_refund = Refund(
        transaction_id=refunded.id,
        stripe_refund_id="re_pending",
        status=RefundStatus.PENDING,
        amount=Decimal("5.00"),
        currency="USD",
        platform_fee_refunded=Decimal("1.00"),
        coach_share_reversed=Decimal("4.00"),
    )
    for r in (good_refund, stuck_refund):
        r.created_at = day(5)
        db.session.add(r)
    db.session.flush()
    ledger.record_refund(good_refund)
    payouts = []
    for stripe_id, amount, status in (
        ("po_ok", "40.00", PayoutStatus.PAID),
        ("po_status", "10.00", PayoutStatus.IN_TRANSIT),
        ("po_portal_only", "5.00", PayoutStatus.PAID),
    ):
        p = Payout(
            stripe_payout_id=stripe_id,
            amount=Decimal(amount),
            currency="USD",
            status=status,
            user_id=coach.id,
            connected_account_id=account.id,
        )
        p.created_at = day(6)
        db.session.add(p)
        payouts.append(p)
    db.session.flush()
    for p in payouts:
        ledger.record_payout(p)
    db.session.commit()

    stripe_fake.charges = [
        _charge("pi_ok", 10000),
        _charge("pi_amount", 5100),  # amount differs
        _charge("pi_status", 3000, refunded=3000),  # refunded at Stripe, completed here
        _charge("pi_stripe_only", 2500),  # missing in portal
        _charge("pi_refunded", 6000, refunded=1500),
        _charge("pi_declined", 900, status="failed"),  # a decline: never a transaction
        {**_charge("pi_membership", 1900), "transfer_data": None},  # a membership's invoice
        {**_charge("pi_membership_off", 19000), "transfer_data": None},  # amount differs
        {**_charge("pi_membership_stripe_only", 1900), "transfer_data": None},  # missing here
    ]
    # pi_edge's charge was made just after the period at Stripe: found by a direct look-up
    stripe_fake.intents["pi_edge"] = {"id": "pi_edge", "latest_charge": _charge("pi_edge", 1000)}
    refunds = [
        {
            "id": "re_ok",
            "amount": 1500,
            "currency": "usd",
            "status": "succeeded",
            "created": IN_PERIOD,
        },
        {
            "id": "re_pending",
            "amount": 500,
            "currency": "usd",
            "status": "failed",
            "created": IN_PERIOD,
        },
        {
            "id": "re_stripe_only",
            "amount": 700,
            "currency": "usd",
            "status": "succeeded",
            "created": IN_PERIOD,
        },
    ]
    stripe_fake.refunds = {refund["id"]: refund for refund in refunds}
    stripe_fake.payouts[account.stripe_account_id] = [
        {"id": "po_ok", "amount": 4000, "currency": "usd", "status": "paid", "created": IN_PERIOD},
        {
            "id": "po_status",
            "amount": 1000,
            "currency": "usd",
            "status": "failed",
            "created": IN_PERIOD,
        },
        {
            "id": "po_amount",
            "amount": 999,
            "currency": "usd",
            "status": "paid",
            "created": IN_PERIOD,
        },
    ]
    stripe_fake.balance = [
        {"currency": "usd", "type": "charge", "amount": 10000, "fee": 320},
        {"currency": "usd", "type": "transfer", "amount": -8000, "fee": 0},
    ]
    # What Stripe computed, agreeing with the portal: re_ok reversed 12.00 of pi_refunded's
    # transfer and refunded 3.00 of its fee; the fees of the period net of that refund; the
    # coach's balance.
    stripe_fake.expanded_refunds["re_ok"] = {
        "id": "re_ok",
        "transfer_reversal": {"amount": 1200},
        "charge": {
            "amount": 6000,
            "application_fee": {"amount": 1200, "amount_refunded": 300},
            "transfer": {"amount": 4800},
        },
    }
    stripe_fake.application_fees = [
        {"id": "fee_all", "amount": 5400, "amount_refunded": 300, "currency": "usd"}
    ]
    held = ledger.balances_of(coach.id)
    stripe_fake.balances[account.stripe_account_id] = {
        "pending": [{"amount": int(held.pending * 100), "currency": "usd"}],
        "available": [{"amount": int(held.available * 100), "currency": "usd"}],
    }
    return {"amount_off": amount_off, "status_off": status_off, "only_portal": only_portal}


EXPECTED = {
    ("payment", "amount differs", "pi_amount", "50.00 USD", "51.00 USD"),
    ("payment", "status differs", "pi_status", "completed", "refunded"),
    ("payment", "missing in portal", "pi_stripe_only", "", "25.00 USD"),
    ("payment", "missing at Stripe", "pi_portal_only", "20.00 USD", ""),
    ("membership payment", "amount differs", "pi_membership_off", "19.00 USD", "190.00 USD"),
    ("membership payment", "missing in portal", "pi_membership_stripe_only", "", "19.00 USD"),
    ("refund", "status differs", "re_pending", "pending", "failed"),
    ("refund", "missing in portal", "re_stripe_only", "", "7.00 USD"),
    ("payout", "status differs", "po_status", "in_transit", "failed"),
    ("payout", "missing in portal", "po_amount", "", "9.99 USD on acct_test000002"),
    ("payout", "missing at Stripe", "po_portal_only", "5.00 USD", ""),
}


def _found(report: reconciliation.Report) -> set[tuple]:
    return {
        (m.kind, m.problem, m.stripe_id, m.portal_value, m.stripe_value) for m in report.mismatches
    }


def test_reconcile_finds_every_kind_of_mismatch_and_nothing_else(
    app: Flask, world: dict[str, Any], coach: User
) -> None:
    report = reconciliation.reconcile(date(2026, 3, 1), date(2026, 3, 10))
    expected = {
        (k, p, s, pv, sv.replace("acct_test000002", f"acct_test{coach.id:06d}"))
        for k, p, s, pv, sv in EXPECTED
    }
    assert _found(report) == expected
    assert report.compared == {
        "payments": 7,
        "membership payments": 3,
        "refunds": 3,
        "refund splits": 1,
        "payouts": 4,
        "platform fees": 1,
        "balances": 1,
    }
    assert report.drift == [] and not report.agrees
    assert report.balance[("USD", "charge")] == Decimal("100.00")
    assert report.balance[("USD", "stripe fees")] == Decimal("-3.20")


def test_an_amount_difference_on_a_payout_is_reported(
    app: Flask, world: dict[str, Any], stripe_fake: FakeStripe, coach: User
) -> None:
    account = f"acct_test{coach.id:06d}"
    stripe_fake.payouts[account][0] = {**stripe_fake.payouts[account][0], "amount": 4001}
    report = reconciliation.reconcile(date(2026, 3, 1), date(2026, 3, 10))
    assert ("payout", "amount differs", "po_ok", "40.00 USD", "40.01 USD") in _found(report)


def _transaction(intent: str) -> Transaction:
    return db.session.scalar(
        sa.select(Transaction).where(Transaction.stripe_payment_intent_id == intent)
    )


def _dispute(
    intent: str, *, status: str = "needs_response", fee: int = 1500, reinstated: int = 0
) -> dict[str, Any]:
    moved = [{"amount": -10000, "fee": fee}] + (
        [{"amount": reinstated, "fee": 0}] * bool(reinstated)
    )
    return {
        "id": f"du_{intent}",
        "payment_intent": intent,
        "amount": 10000,
        "currency": "usd",
        "status": status,
        "balance_transactions": moved,
        "created": IN_PERIOD,
    }


def _flag(intent: str, **flag: str) -> None:
    txn = _transaction(intent)
    txn.meta = {
        "dispute": {
            "id": f"du_{intent}",
            "status": "needs_response",
            "amount": "100.00",
            "fee": "15.00",
            "withdrawn": "100.00",
            "reinstated": "0.00",
            **flag,
        }
    }
    db.session.commit()


def test_a_flagged_dispute_that_agrees_with_stripe_is_no_mismatch(
    app: Flask, world: dict[str, Any], stripe_fake: FakeStripe
) -> None:
    stripe_fake.disputes = [_dispute("pi_ok")]
    _flag("pi_ok")
    report = reconciliation.reconcile(date(2026, 3, 1), date(2026, 3, 10))
    assert not {m for m in _found(report) if m[0] == "dispute"}
    assert report.compared["disputes"] == 1


@pytest.mark.parametrize(
    ("drift", "found"),
    [
        (
            "reversal",
            ("refund", "transfer reversal differs", "re_ok", "12.00 USD", "12.01 USD"),
        ),
        (
            "fee refund",
            ("payment", "application fee refunds differ", "pi_refunded", "3.00 USD", "3.01 USD"),
        ),
        ("platform fees", ("platform fees", "amount differs", "USD", "51.00 USD", "50.99 USD")),
        ("pending", ("balance", "pending differs", "ACCOUNT", "PENDING USD", "0.01 USD")),
        (
            "unflagged dispute",
            ("dispute", "missing in portal", "du_pi_ok", "", "100.00 USD, needs_response"),
        ),
        ("dispute status", ("dispute", "status differs", "du_pi_ok", "needs_response", "lost")),
        ("dispute fee", ("dispute", "dispute fee differs", "du_pi_ok", "15.00", "20.00")),
        (
            "dispute funds",
            (
                "dispute",
                "dispute funds withdrawn or reinstated differ",
                "du_pi_ok",
                "withdrawn 100.00, reinstated 0.00",
                "withdrawn 100.00, reinstated 100.00",
            ),
        ),
    ],
)
def test_each_way_the_portal_and_stripe_split_money_differently_is_a_mismatch(
    app: Flask,
    world: dict[str, Any],
    stripe_fake: FakeStripe,
    coach: User,
    drift: str,
    found: tuple,
) -> None:
    account = f"acct_test{coach.id:06d}"
    if drift == "reversal":
        stripe_fake.expanded_refunds["re_ok"]["transfer_reversal"] = {"amount": 1201}
    elif drift == "fee refund":
        stripe_fake.expanded_refunds["re_ok"]["charge"]["application_fee"]["amount_refunded"] = 301
    elif drift == "platform fees":
        stripe_fake.application_fees[0]["amount_refunded"] = 301
    elif drift == "pending":
        stripe_fake.balances[account]["pending"] = [{"amount": 1, "currency": "usd"}]
        pending = ledger.balances_of(coach.id).pending
        found = (*found[:2], account, f"{pending} USD", found[4])
    elif drift == "unflagged dispute":
        stripe_fake.disputes = [_dispute("pi_ok")]
    elif drift == "dispute status":
        stripe_fake.disputes = [_dispute("pi_ok", status="lost")]
        _flag("pi_ok")
    elif drift == "dispute fee":
        stripe_fake.disputes = [_dispute("pi_ok", fee=2000)]
        _flag("pi_ok")
    elif drift == "dispute funds":
        stripe_fake.disputes = [_dispute("pi_ok", status="won", reinstated=10000)]
        _flag("pi_ok", status="won")
    report = reconciliation.reconcile(date(2026, 3, 1), date(2026, 3, 10))
    assert found in _found(report), _found(report) - EXPECTED
    assert not report.agrees


def test_agreement_and_ledger_drift_are_both_reported(
    app: Flask, coach: User, mentee: User, stripe_fake: FakeStripe
) -> None:
    paid = payment(mentee, coach, "100.00", at=day(3), intent="pi_ok")  # no ledger entry: drift
    stripe_fake.charges = [_charge("pi_ok", 10000)]
    stripe_fake.application_fees = [{"id": "fee_ok", "amount": 2000, "amount_refunded": 0}]
    report = reconciliation.reconcile(date(2026, 3, 1), date(2026, 3, 10))
    assert report.mismatches == []
    assert [str(d) for d in report.drift] == [
        f"coach {coach.id}: paid transaction {paid.id} has no payment entry"
    ]
    ledger.record_payment(paid)
    db.session.commit()
    assert reconciliation.reconcile(date(2026, 3, 1), date(2026, 3, 10)).agrees


def _start_run(client: FlaskClient, since: str, until: str) -> Any:
    return client.post(
        "/admin/reconciliation",
        data={"since": since, "until": until, "csrf_token": csrf_token(client)},
    )


def test_a_run_started_on_the_page_is_stored_and_lists_mismatches_and_the_ledger_result(
    admin_client: FlaskClient, admin: User, world: dict[str, Any]
) -> None:
    started = _start_run(admin_client, "2026-03-01", "2026-03-10")
    assert started.status_code == 303
    run = db.session.scalars(sa.select(ReconciliationRun)).one()
    assert started.headers["Location"].endswith(f"/admin/reconciliation/runs/{run.id}")
    assert (run.status, run.mismatch_count, run.drift_count) == ("succeeded", len(EXPECTED), 0)
    assert run.finished_at is not None and run.duration_seconds is not None
    assert audit_actions() == ["reconciliation.start"]
    page = admin_client.get(f"/admin/reconciliation/runs/{run.id}")
    assert page.status_code == 200
    assert page.text.count('data-problem="') == len(EXPECTED)
    for problem in ("missing in portal", "missing at Stripe", "amount differs", "status differs"):
        assert f'data-problem="{problem}"' in page.text
    assert "balances equal their ledger entries" in page.text
    assert "hx-trigger" not in page.text  # finished: nothing left to poll
    listing = admin_client.get("/admin/reconciliation")
    assert listing.status_code == 200 and f'id="run-{run.id}"' in listing.text
    assert "disagrees" in listing.text
    attention = admin_client.get("/admin/attention")
    assert f"/admin/reconciliation/runs/{run.id}" in attention.text


def test_a_bad_period_is_refused_and_starts_nothing(admin_client: FlaskClient) -> None:
    bad = _start_run(admin_client, "2026-03-10", "2026-03-01")
    assert bad.status_code == 400 and "ends before it starts" in bad.text
    assert db.session.scalars(sa.select(ReconciliationRun)).all() == []


def test_a_run_in_progress_polls_and_shows_its_step(admin_client: FlaskClient) -> None:
    run = reconciliation_runs.request_run(date(2026, 3, 1), date(2026, 3, 1), requested_by_id=None)
    run.status, run.step, run.steps_done = "running", "refunds", 1
    db.session.commit()
    page = admin_client.get(f"/admin/reconciliation/runs/{run.id}", headers={"HX-Request": "true"})
    assert page.status_code == 200 and "<!doctype" not in page.text.lower()
    assert 'hx-trigger="every 2s"' in page.text and "Step 2 of 7: refunds" in page.text


def test_a_run_says_so_when_stripe_cannot_be_read(
    admin_client: FlaskClient, stripe_fake: FakeStripe
) -> None:
    stripe_fake.down = True
    started = _start_run(admin_client, "2026-03-01", "2026-03-10")
    page = admin_client.get(started.headers["Location"])
    assert page.status_code == 200 and "nothing was compared" in page.text
    run = db.session.scalars(sa.select(ReconciliationRun)).one()
    assert run.status == "retrying" and run.mismatches is None  # queued again, nothing stored


def test_a_run_stopped_by_an_error_in_the_portal_says_so_and_is_not_left_running(
    admin_client: FlaskClient, stripe_fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal.stripe_gateway import reconciliation as gateway

    def malformed(since: int, until: int) -> Any:
        raise KeyError("amount")  # an answer the portal could not read

    monkeypatch.setattr(gateway, "list_charges", malformed)
    started = _start_run(admin_client, "2026-03-01", "2026-03-10")
    run = db.session.scalars(sa.select(ReconciliationRun)).one()
    assert run.status in ("retrying", "failed") and run.mismatches is None
    assert run.error and "KeyError" in run.error
    page = admin_client.get(started.headers["Location"])
    assert page.status_code == 200 and "stopped on an error in the portal" in page.text


def test_a_failed_run_needs_attention_until_a_later_run_of_its_period_agrees(
    app: Flask, stripe_fake: FakeStripe
) -> None:
    period = (date(2026, 3, 1), date(2026, 3, 10))
    stripe_fake.down = True
    failed = reconciliation_runs.request_run(*period, requested_by_id=None)
    db.session.commit()
    with pytest.raises(StripeUnavailable):
        reconciliation_runs.perform(failed.id)
    assert [r.id for r in reconciliation_runs.runs_needing_attention()] == [failed.id]
    stripe_fake.down = False
    other = reconciliation_runs.request_run(
        date(2026, 3, 2), date(2026, 3, 2), requested_by_id=None
    )
    db.session.commit()
    reconciliation_runs.perform(other.id)
    assert [r.id for r in reconciliation_runs.runs_needing_attention()] == [failed.id]
    again = reconciliation_runs.request_run(*period, requested_by_id=None)
    db.session.commit()
    assert reconciliation_runs.perform(again.id).agrees
    assert reconciliation_runs.runs_needing_attention() == []


def test_flask_reconcile_prints_each_mismatch_and_exits_1(
    app: Flask, world: dict[str, Any]
) -> None:
    result = app.test_cli_runner().invoke(
        args=["reconcile", "--since", "2026-03-01", "--until", "2026-03-10"]
    )
    assert result.exit_code == 1, result.output
    assert result.output.count("MISMATCH ") == len(EXPECTED)
    assert "MISMATCH payment pi_amount" in result.output and "amount differs" in result.output
    assert f"{len(EXPECTED)} mismatch(es), 0 ledger problem(s)." in result.output


def test_flask_reconcile_agrees_with_exit_0(app: Flask, stripe_fake: FakeStripe) -> None:
    result = app.test_cli_runner().invoke(
        args=["reconcile", "--since", "2026-03-01", "--until", "2026-03-10"]
    )
    assert result.exit_code == 0, result.output
    assert "agrees with Stripe" in result.output
    bad = app.test_cli_runner().invoke(
        args=["reconcile", "--since", "2026-03-10", "--until", "2026-03-01"]
    )
    assert bad.exit_code == 2 and "ends before it starts" in bad.output


def test_the_reconciliation_form_opens_on_the_last_7_days_and_the_api_version_shows_once(
    admin_client: FlaskClient,
) -> None:
    today = datetime.now(UTC).date()
    page = admin_client.get("/admin/reconciliation").text
    assert f'name="since" required type="date" value="{today - timedelta(days=6):%Y-%m-%d}"' in page
    assert f'name="until" required type="date" value="{today:%Y-%m-%d}"' in page
    assert "Stripe API version" not in page
    system = admin_client.get("/admin/system").text
    assert system.count("Stripe API version") == 1
