"""Stored reconciliations: each comparison with Stripe is a row, its findings kept.

What this module promises:

- `request_run(since, until)` adds a queued run (the caller commits and queues `perform`);
  `perform(run_id)` compares the period with `reconciliation.reconcile`, storing its progress
  step by step (committed, so a page polling the run sees it move) and then its counts,
  mismatches, ledger drift and duration. A run performed again after it finished is left as
  it is.
- A run that Stripe could not answer is stored as failed with the message, and raises, so the
  task queue retries it; a run stopped by any other error is stored as failed with its kind
  and raises too. A run with mismatches or drift is one of the admin's "needs attention".
- `nightly_run(day)` is the day's run started by the schedule, made once however often asked.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from portal import pagination as keyset
from portal.admin import reconciliation
from portal.extensions import db
from portal.models import ReconciliationRun, utcnow
from portal.models.jobs import FAILED, QUEUED, RETRYING, RUNNING, SUCCEEDED
from portal.stripe_gateway import GatewayError

PAGE_SIZE = 20
STEPS = reconciliation.STEPS


def request_run(since: date, until: date, *, requested_by_id: int | None) -> ReconciliationRun:
    """A queued run for the period (flushed); raises ValueError when it ends before it starts."""
    if until < since:
        raise ValueError("The period ends before it starts; swap the dates.")
    run = ReconciliationRun(
        since=since, until=until, status=QUEUED, requested_by_id=requested_by_id
    )
    db.session.add(run)
    db.session.flush()
    return run


def nightly_run(day: date) -> ReconciliationRun:
    """The scheduled run for `day`: the one already made for it, or a new queued one (committed)."""
    run = db.session.scalar(
        sa.select(ReconciliationRun)
        .where(
            ReconciliationRun.since == day,
            ReconciliationRun.until == day,
            ReconciliationRun.requested_by_id.is_(None),
        )
        .order_by(ReconciliationRun.id.desc())
        .limit(1)
    )
    if run is None:
        run = request_run(day, day, requested_by_id=None)
        db.session.commit()
    return run


def perform(run_id: int) -> ReconciliationRun | None:
    """Compare the run's period with Stripe and store what was found; commits."""
    run = db.session.get(ReconciliationRun, run_id)
    if run is None or run.status == SUCCEEDED:
        return run
    since, until = run.since, run.until
    _update(run_id, status=RUNNING, started_at=utcnow(), steps_done=0, step=None, error=None)
    done = 0

    def on_step(name: str) -> None:
        nonlocal done
        _update(run_id, step=name, steps_done=done)
        done += 1

    try:
        report = reconciliation.reconcile(since, until, on_step=on_step)
    except Exception as exc:
        # Stored as failed with a reason, never left "running": the task queue's retry (if any)
        # marks it retrying and keeps the reason. Stripe's message is shown; any other error's
        # details go to the log, not the page.
        db.session.rollback()
        _update(run_id, status=FAILED, finished_at=utcnow(), error=_why_stopped(exc))
        raise
    _update(
        run_id,
        status=SUCCEEDED,
        finished_at=utcnow(),
        step=None,
        steps_done=len(STEPS),
        compared=dict(report.compared),
        mismatches=[_mismatch(m) for m in report.mismatches],
        mismatch_count=len(report.mismatches),
        drift=[str(d) for d in report.drift],
        drift_count=len(report.drift),
        balance=[[cur, kind, str(amount)] for (cur, kind), amount in report.balance.items()],
    )
    return db.session.get(ReconciliationRun, run_id)


def _why_stopped(exc: Exception) -> str:
    if isinstance(exc, GatewayError):
        return f"Stripe could not be read, so nothing was compared: {exc.message}"
    return (
        f"The comparison stopped on an error in the portal ({type(exc).__name__}),"
        " so nothing was stored; the details are in the log."
    )


def mark_retrying(run_id: int) -> None:
    _update(run_id, status=RETRYING)


def run_of(run_id: int) -> ReconciliationRun | None:
    return db.session.get(ReconciliationRun, run_id)


def runs_page(*, after: str | None = None, before: str | None = None) -> keyset.Page:
    return keyset.fetch_page(
        sa.select(ReconciliationRun),
        key=ReconciliationRun.created_at,
        row_id=ReconciliationRun.id,
        kind="datetime",
        after=after,
        before=before,
        size=PAGE_SIZE,
    )


def runs_needing_attention(limit: int = 100) -> list[ReconciliationRun]:
    """Finished runs that found something (a mismatch, ledger drift, or Stripe not answering)
    and that no later run of the same period has since found agreeing."""
    disagreed = sa.or_(
        ReconciliationRun.mismatch_count > 0,
        ReconciliationRun.status == FAILED,
        ReconciliationRun.drift_count > 0,
    )
    later = sa.orm.aliased(ReconciliationRun)
    settled_since = (
        sa.select(later.id)
        .where(
            later.since == ReconciliationRun.since,
            later.until == ReconciliationRun.until,
            later.id > ReconciliationRun.id,
            later.status == SUCCEEDED,
            later.mismatch_count == 0,
            later.drift_count == 0,
        )
        .exists()
    )
    query = (
        sa.select(ReconciliationRun)
        .where(disagreed, ~settled_since)
        .order_by(ReconciliationRun.id.desc())
    )
    return list(db.session.scalars(query.limit(limit)))


def _mismatch(m: reconciliation.Mismatch) -> dict[str, object]:
    return {
        "kind": m.kind,
        "problem": m.problem,
        "stripe_id": m.stripe_id,
        "portal_id": m.portal_id,
        "portal_value": m.portal_value,
        "stripe_value": m.stripe_value,
    }


def _update(run_id: int, **values: object) -> None:
    db.session.execute(
        sa.update(ReconciliationRun).where(ReconciliationRun.id == run_id).values(**values)
    )
    db.session.commit()
