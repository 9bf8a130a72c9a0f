"""The schedule and the queue, in Huey's immediate mode: each job is claimed once per period in the
platform's time zone, a failing run is retried with a growing delay and then shown to admins,
and the admin's Jobs page shows every job and runs one now, audited. Stripe is faked at the
gateway modules."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal import jobs
from portal.extensions import db
from portal.models import (
    AuditLog,
    CoachProfile,
    JobRun,
    Payout,
    PayoutSchedule,
    ReconciliationRun,
    Role,
)
from portal.stripe_gateway import StripeUnavailable
from portal.stripe_gateway import event_log as events_gateway
from portal.stripe_gateway import reconciliation as reconciliation_gateway
from portal.tasks import Tasks, init_tasks
from tests.builders import make_connected_account, make_user
from tests.conftest import csrf_token, login
from tests.payouts.conftest import earn, release
from tests.stripe_fake import FakeStripe

# 05:59 and 06:00 in Paris on Monday 30 November 2026.
BEFORE_SIX_PARIS = datetime(2026, 11, 30, 4, 59, 10, tzinfo=UTC)
SIX_PARIS = datetime(2026, 11, 30, 5, 0, 20, tzinfo=UTC)


def _queue(app: Flask, **settings: object) -> Tasks:
    app.config.update(settings)
    return init_tasks(app)


def _recording(queue: Tasks) -> list[tuple[str, date]]:
    """Replace each job's work with a note of the call (the schedule is what is under test)."""
    calls: list[tuple[str, date]] = []
    for name, job in queue.jobs.items():

        def work(day: date, name: str = name) -> str:
            calls.append((name, day))
            return f"{name} done"

        queue.jobs[name] = dataclasses.replace(job, work=work)
    return calls


def _run(queue: Tasks, job: str, period: str) -> JobRun:
    """Claim one job's period and queue it, as `tick` does for each due job."""
    run_id = jobs.claim(job, period)
    assert run_id is not None
    queue.queue_run(run_id)
    db.session.expire_all()
    run = db.session.get(JobRun, run_id)
    assert run is not None
    return run


def _runs() -> list[JobRun]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(JobRun).order_by(JobRun.id)))


def _admin_client(app: Flask) -> FlaskClient:
    client = app.test_client()
    login(client, make_user(Role.ADMIN, password="correct horse battery"))
    return client


def test_each_job_runs_once_per_period_in_the_platform_time_zone(app: Flask) -> None:
    queue = _queue(app, PLATFORM_TIMEZONE="Europe/Paris", JOB_PAYOUTS_AT="06:00")
    calls = _recording(queue)

    queue.tick(BEFORE_SIX_PARIS)
    monday = date(2026, 11, 30)
    assert sorted(calls) == [
        ("booking-reminders", monday),
        ("ledger-verify", monday),
        ("reconcile", monday),
        ("release-holds", monday),
        ("replay-missed", monday),
    ]
    # A second consumer ticking in the same minute finds every period claimed.
    _queue(app, PLATFORM_TIMEZONE="Europe/Paris", JOB_PAYOUTS_AT="06:00")
    assert app.extensions["tasks"].tick(BEFORE_SIX_PARIS) == []

    calls.clear()
    queue.tick(SIX_PARIS)
    assert sorted(calls) == [
        ("booking-reminders", monday),
        ("release-holds", monday),
        ("replay-missed", monday),
        ("scheduled-payouts", monday),
    ]
    assert queue.tick(SIX_PARIS + timedelta(seconds=30)) == []
    runs = {(run.job, run.period): run for run in _runs()}
    assert set(runs) >= {
        ("replay-missed", "2026-11-30T05:45+01:00"),
        ("replay-missed", "2026-11-30T06:00+01:00"),
        ("release-holds", "2026-11-30T05:59+01:00"),
        ("scheduled-payouts", "2026-11-30"),
    }
    assert all(run.status == "succeeded" and run.attempts == 1 for run in runs.values())
    assert runs[("scheduled-payouts", "2026-11-30")].result == "scheduled-payouts done"


def test_a_scheduled_payout_is_made_once_however_often_the_day_is_ticked(
    app: Flask, stripe_fake: FakeStripe
) -> None:
    coach = make_user(
        Role.COACH,
        payout_schedule=PayoutSchedule.DAILY,
        minimum_payout=Decimal("50.00"),
        platform_fee_percentage=Decimal("0"),
    )
    make_connected_account(coach)
    earn(coach, "80.00")
    release(coach)
    queue = _queue(app)
    _run(queue, "scheduled-payouts", "2026-11-30")
    assert jobs.claim("scheduled-payouts", "2026-11-30") is None  # another consumer's tick
    queue.queue_run(_run(queue, "scheduled-payouts", "manual:again").id)  # a repeated delivery
    db.session.expire_all()
    [payout] = db.session.scalars(sa.select(Payout).where(Payout.user_id == coach.id)).all()
    assert payout.amount == Decimal("80.00") and stripe_fake.count("payouts.create") == 1
    first, again = _runs()
    assert first.result == "Scheduled payouts for 2026-11-30: 1 created, 0 failed."
    assert again.result.endswith("0 created, 0 failed.") and again.attempts == 1


def test_a_failing_run_is_retried_with_a_growing_delay_then_shown_to_admins(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = _queue(app, JOB_RETRIES=2, JOB_RETRY_DELAY=60)
    stripe_down = StripeUnavailable("We could not reach our payment provider.")

    def list_events(since: int, account: str | None = None) -> list[dict]:
        raise stripe_down

    monkeypatch.setattr(events_gateway, "list_events", list_events)
    run = _run(queue, "replay-missed", "2026-11-30T06:00+01:00")
    assert (run.status, run.attempts) == ("retrying", 1)
    assert run.error == "We could not reach our payment provider."

    delays = []
    while queue.huey.scheduled_count():
        [retry] = queue.huey.scheduled()
        delays.append(round((retry.eta - datetime.now(UTC).replace(tzinfo=None)).total_seconds()))
        [due] = queue.huey.read_schedule(retry.eta)
        queue.huey.execute(due, timestamp=retry.eta)
    assert [pytest.approx(d, abs=5) for d in delays] == [60, 120]
    db.session.expire_all()
    run = db.session.get(JobRun, run.id)
    assert (run.status, run.attempts) == ("failed", 3)
    assert jobs.failed_runs() == [run]

    admin = _admin_client(app)
    attention = admin.get("/admin/attention")
    assert "replay-missed" in attention.text and "could not reach" in attention.text
    board = admin.get("/admin/jobs")
    assert f'id="failed-run-{run.id}"' in board.text
    assert 'id="job-replay-missed" data-status="failed"' in board.text

    monkeypatch.setattr(events_gateway, "list_events", lambda since, account=None: [])
    again = admin.post(f"/admin/jobs/runs/{run.id}/retry", data={"csrf_token": csrf_token(admin)})
    assert again.status_code == 303
    db.session.expire_all()
    run = db.session.get(JobRun, run.id)
    assert (run.status, run.attempts, run.error) == ("succeeded", 4, None)
    assert run.result == "Replayed 0 missed event(s) of 0 listed; 0 failed."
    assert db.session.scalar(sa.select(AuditLog.action)) == "job.retry"
    assert jobs.failed_runs() == []


def test_ledger_drift_is_a_finding_for_admins_not_retried(app: Flask) -> None:
    queue = _queue(app, JOB_RETRIES=3)
    coach = make_user(Role.COACH)
    db.session.execute(
        sa.update(CoachProfile)
        .where(CoachProfile.user_id == coach.id)
        .values(available_balance=Decimal("5.00"))
    )
    db.session.commit()
    run = _run(queue, "ledger-verify", "2026-11-30")
    assert (run.status, run.attempts) == ("failed", 1)
    assert "1 ledger problem(s)" in (run.error or "") and queue.huey.scheduled_count() == 0


def test_the_nightly_reconciliation_stores_the_previous_day(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "list_charges",
        "list_refunds",
        "list_balance_transactions",
        "list_disputes",
        "list_application_fees",
    ):
        monkeypatch.setattr(reconciliation_gateway, name, lambda since, until: iter(()))
    queue = _queue(app, PLATFORM_TIMEZONE="Europe/Paris", JOB_RECONCILE_AT="02:00")
    run = _run(queue, "reconcile", "2026-11-30")
    [stored] = db.session.scalars(sa.select(ReconciliationRun)).all()
    assert (stored.since, stored.until) == (date(2026, 11, 29), date(2026, 11, 29))
    assert stored.status == "succeeded" and stored.agrees and stored.requested_by_id is None
    [run] = [r for r in _runs() if r.job == "reconcile"]
    assert (
        run.result
        == f"Reconciliation of 2026-11-29: the portal agrees with Stripe (run #{stored.id})."
    )


def test_the_jobs_page_shows_every_job_and_runs_one_now_with_an_audit_entry(app: Flask) -> None:
    admin = _admin_client(app)
    page = admin.get("/admin/jobs")
    assert page.status_code == 200
    for name in (
        "scheduled-payouts",
        "replay-missed",
        "release-holds",
        "booking-reminders",
        "reconcile",
        "ledger-verify",
    ):
        assert f'id="job-{name}" data-status="never"' in page.text
    assert "every 15 minutes" in page.text and "daily at 06:00" in page.text

    ran = admin.post("/admin/jobs/ledger-verify/run", data={"csrf_token": csrf_token(admin)})
    assert ran.status_code == 303
    [run] = _runs()
    assert (run.job, run.status, run.period[:7]) == ("ledger-verify", "succeeded", "manual:")
    entry = db.session.scalars(sa.select(AuditLog)).one()
    assert (entry.action, entry.target_id, entry.after) == (
        "job.run_now",
        "ledger-verify",
        {"run": run.id},
    )
    page = admin.get("/admin/jobs")
    assert 'id="job-ledger-verify" data-status="succeeded"' in page.text
    assert "The ledger verifies for 0 coach(es)." in page.text

    assert (
        admin.post(
            "/admin/jobs/no-such-job/run", data={"csrf_token": csrf_token(admin)}
        ).status_code
        == 404
    )
    assert admin.post("/admin/jobs/ledger-verify/run").status_code == 400
    assert len(_runs()) == 1


def test_bad_schedule_settings_stop_the_app_with_a_clear_message(app: Flask) -> None:
    with pytest.raises(RuntimeError, match="PLATFORM_TIMEZONE='Mars/Olympus'"):
        _queue(app, PLATFORM_TIMEZONE="Mars/Olympus")
    with pytest.raises(RuntimeError, match="JOB_PAYOUTS_AT='6pm' is not a time of day"):
        _queue(app, PLATFORM_TIMEZONE="UTC", JOB_PAYOUTS_AT="6pm")
    with pytest.raises(RuntimeError, match="JOB_REPLAY_MISSED_EVERY='7' must be"):
        _queue(app, JOB_PAYOUTS_AT="06:00", JOB_REPLAY_MISSED_EVERY="7")
