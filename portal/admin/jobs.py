"""The admin's Jobs page: each scheduled job's schedule, last run and next run; "run now".

`run_now` and `retry` claim a run and write the audit entry (flushed; the view commits), and
the view queues the run once that is committed, so a consumer always finds the row it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal import jobs
from portal.admin import audit
from portal.models import JobRun
from portal.models.jobs import FAILED
from portal.tasks import Job, current_tasks


class UnknownJob(LookupError):
    pass


@dataclass(frozen=True)
class JobStatus:
    job: Job
    last: JobRun | None
    next_run: datetime


def board() -> list[JobStatus]:
    """Every job, in schedule order, with its newest run and when it runs next."""
    queue = current_tasks()
    local = queue.local_now()
    last = jobs.last_runs()
    rows = []
    for job in queue.jobs.values():
        period = job.schedule.period(local)
        done = period is None or jobs.has_run(job.name, period)
        rows.append(JobStatus(job, last.get(job.name), job.schedule.next_run(local, done=done)))
    return rows


def run_now(name: str, *, admin_id: int) -> int:
    """Claim a run of the job now, beside its schedule; the caller commits, then queues it."""
    if name not in current_tasks().jobs:
        raise UnknownJob(name)
    run_id = jobs.claim_manual(name)
    audit.record(admin_id, "job.run_now", "job", name, after={"run": run_id})
    return run_id


def retry(run_id: int, *, admin_id: int) -> JobRun:
    """Run a failed run again (its period and its attempts kept); the caller commits, queues."""
    run = jobs.run(run_id)
    if run is None or run.status != FAILED:
        raise UnknownJob(run_id)
    audit.record(
        admin_id, "job.retry", "job_run", run_id, before={"status": run.status, "error": run.error}
    )
    return run
