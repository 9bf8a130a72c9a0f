"""The record of scheduled work: one `JobRun` row per job and period.

What this module promises:

- `claim(job, period)` inserts the period's row, or finds it there: of any number of consumers
  asking for the same job and period, exactly one gets the run (the unique constraint on
  `(job, period)` decides, on SQLite and PostgreSQL alike), the others get None.
- `begin(run_id)` moves a queued or retrying run to running and counts the attempt; a run that
  already succeeded is not begun again, so a task delivered twice does its work once.
- `succeed`/`fail` record the result or the error with the time; a run failed after its last
  try is what `failed_runs()` (the admin's "needs attention") lists.

Each function commits: the record must outlive whatever the job's own work rolls back.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import JobRun, utcnow
from portal.models.jobs import FAILED, QUEUED, RETRYING, RUNNING, SUCCEEDED

# Rows of runs that succeeded are kept this long; a failed run stays until it is seen to.
KEEP_SUCCEEDED = timedelta(days=7)


def claim(job: str, period: str) -> int | None:
    """The new run's id if this caller is the first to claim the job for the period, else None."""
    if db.session.scalar(_run_of(job, period)) is not None:
        return None
    run = JobRun(job=job, period=period, status=QUEUED)
    try:
        with db.session.begin_nested():
            db.session.add(run)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return run.id


def claim_manual(job: str) -> int:
    """A run an admin asked for now (flushed; the caller commits): a period of its own, so it
    never takes the schedule's place."""
    run = JobRun(job=job, period=f"manual:{uuid.uuid4().hex[:12]}", status=QUEUED)
    db.session.add(run)
    db.session.flush()
    return run.id


def begin(run_id: int) -> JobRun | None:
    """Count an attempt at the run; None when it has already succeeded (or does not exist)."""
    result = db.session.execute(
        sa.update(JobRun)
        .where(JobRun.id == run_id, JobRun.status.in_((QUEUED, RETRYING, FAILED)))
        .values(status=RUNNING, attempts=JobRun.attempts + 1, started_at=utcnow(), error=None)
    )
    db.session.commit()
    if result.rowcount != 1:
        return None
    return db.session.get(JobRun, run_id)


def succeed(run_id: int, result: str) -> None:
    _finish(run_id, SUCCEEDED, result=result)
    db.session.execute(
        sa.delete(JobRun).where(
            JobRun.status == SUCCEEDED, JobRun.created_at < utcnow() - KEEP_SUCCEEDED
        )
    )
    db.session.commit()


def fail(run_id: int, error: str, *, final: bool) -> None:
    """Record a failed try; `final` when no retry follows (then it needs an admin)."""
    _finish(run_id, FAILED if final else RETRYING, error=error[:4000])


def _finish(run_id: int, status: str, **values: str) -> None:
    db.session.rollback()  # whatever the job left half done is not part of the record
    db.session.execute(
        sa.update(JobRun)
        .where(JobRun.id == run_id)
        .values(status=status, finished_at=utcnow(), **values)
    )
    db.session.commit()


def run(run_id: int) -> JobRun | None:
    return db.session.get(JobRun, run_id)


def last_runs() -> dict[str, JobRun]:
    """Each job's newest run."""
    newest = (
        sa.select(JobRun.job, sa.func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery()
    )
    runs = db.session.scalars(sa.select(JobRun).join(newest, newest.c.id == JobRun.id))
    return {run.job: run for run in runs}


def failed_runs(limit: int = 100) -> list[JobRun]:
    """Runs that failed after their last try, newest first."""
    query = sa.select(JobRun).where(JobRun.status == FAILED).order_by(JobRun.id.desc())
    return list(db.session.scalars(query.limit(limit)))


def _run_of(job: str, period: str) -> sa.Select:
    return sa.select(JobRun.id).where(JobRun.job == job, JobRun.period == period)


def has_run(job: str, period: str) -> bool:
    """Whether the job's run for the period has been claimed (whatever became of it)."""
    return db.session.scalar(_run_of(job, period)) is not None
