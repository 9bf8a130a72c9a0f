"""The task queue and the schedule: work the portal does by itself (Huey).

What this module promises:

- One queue per app, made by `init_tasks(app)` in the app factory: `SqliteHuey` in a file under
  `instance/` by default (no server needed), `RedisHuey` when `REDIS_URL` is set, so that any
  number of consumers on any number of machines share it (`flask jobs worker`). Tests run it in
  Huey's immediate mode: a queued task runs at once, in the caller's thread.
- Every task runs in an app context of its own, and calls the domain's functions: the tasks
  here decide when, never what.
- JOBS is the schedule, in the platform's time zone (`PLATFORM_TIMEZONE`, times configurable).
  Each minute every consumer's scheduler runs `tick`, which claims each due job for its period
  with a `job_runs` row (`portal.jobs.claim`) and queues the claimed runs. The row's unique
  `(job, period)` makes a run once per period on any number of consumers, on SQLite and Redis
  alike, and keeps the record the admin's Jobs page shows. Huey's `lock_task` would not do:
  it only keeps two runs from overlapping, so a consumer ticking a moment after another's run
  finished would run it again. A daily job is due from its time until the end of the day, so
  a consumer that was down at that time still runs it when it comes back.
- A run that raises is retried `JOB_RETRIES` times, `JOB_RETRY_DELAY` seconds apart, doubling
  each time; after the last try it is recorded failed, and admins see it. A job that ran and
  found a problem (the ledger's drift) raises `Finding`: recorded failed at once, no retry.
  Every job is idempotent: a scheduled payout is keyed by the coach's balance state, a released
  hold stays released, an applied event is applied once, a stored reconciliation is not redone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from huey import Huey, RedisHuey, SqliteHuey, crontab

from portal import jobs
from portal.models import utcnow

logger = logging.getLogger("portal.tasks")

# How far back the periodic replay looks; it runs every few minutes, and the command
# (`flask stripe replay-missed`) reaches back further when an operator needs it.
REPLAY_SINCE_HOURS = 24


class Finding(Exception):
    """The job ran and found something wrong: recorded failed for an admin, not retried."""


# --- schedules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Daily:
    """Due once a day, from `at` (platform time) to midnight."""

    at: time

    def describe(self) -> str:
        return f"daily at {self.at:%H:%M}"

    def period(self, local: datetime) -> str | None:
        return local.date().isoformat() if local.time() >= self.at else None

    def next_run(self, local: datetime, *, done: bool) -> datetime:
        """When it runs next, `done` saying whether its current period has run."""
        today = datetime.combine(local.date(), self.at, tzinfo=local.tzinfo)
        if local < today:
            return today
        return today + timedelta(days=1) if done else _next_minute(local)


@dataclass(frozen=True)
class Every:
    """Due once in each slice of `minutes` minutes of the platform's day."""

    minutes: int

    def describe(self) -> str:
        return "every minute" if self.minutes == 1 else f"every {self.minutes} minutes"

    def period(self, local: datetime) -> str:
        return self._start(local).isoformat(timespec="minutes")

    def next_run(self, local: datetime, *, done: bool) -> datetime:
        """When it runs next, `done` saying whether its current period has run."""
        return self._start(local) + timedelta(minutes=self.minutes) if done else _next_minute(local)

    def _start(self, local: datetime) -> datetime:
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        elapsed = (local - midnight) // timedelta(minutes=1)
        return midnight + timedelta(minutes=elapsed - elapsed % self.minutes)


def _next_minute(local: datetime) -> datetime:
    return local.replace(second=0, microsecond=0) + timedelta(minutes=1)


# --- the jobs ------------------------------------------------------------------------------------
# Each takes the day of its run (platform time) and returns a line saying what it did.


def _scheduled_payouts(day: date) -> str:
    from portal.payouts.scheduled import run_scheduled_payouts

    outcome = run_scheduled_payouts(day)
    if outcome.failed:
        reasons = "; ".join(f"coach {coach}: {why}" for coach, why in outcome.failed.items())
        raise RuntimeError(f"{outcome.summary()} {reasons}")
    return outcome.summary()


def _replay_missed(day: date) -> str:
    from portal.webhooks.replay import replay_missed

    replay = replay_missed(REPLAY_SINCE_HOURS)
    if replay.failed:
        failed = ", ".join(e["id"] for e, outcome in replay.outcomes if outcome.failed)
        raise RuntimeError(f"{replay.summary()} Failed: {failed}")
    return replay.summary()


def _release_holds(day: date) -> str:
    from portal.bookings.expired_holds import release_expired_holds

    outcome = release_expired_holds()
    if outcome.failed:
        raise RuntimeError(outcome.summary())
    return outcome.summary()


def _booking_reminders(day: date) -> str:
    from portal.bookings.notices import send_reminders
    from portal.extensions import db

    queued = send_reminders()
    db.session.commit()
    return f"{queued} reminder(s) of sessions in the next 24 hours queued."


def _nightly_reconciliation(day: date) -> str:
    from portal.admin import reconciliation_runs

    run = reconciliation_runs.nightly_run(day - timedelta(days=1))
    run = reconciliation_runs.perform(run.id)
    assert run is not None
    if not run.agrees:
        raise Finding(
            f"Reconciliation of {run.since}: {run.mismatch_count} mismatch(es), "
            f"{run.drift_count} ledger problem(s) (run #{run.id})."
        )
    return f"Reconciliation of {run.since}: the portal agrees with Stripe (run #{run.id})."


def _verify_ledger(day: date) -> str:
    from portal import ledger

    drift = ledger.verify()
    if drift:
        raise Finding(f"{len(drift)} ledger problem(s): " + "; ".join(map(str, drift)))
    return f"The ledger verifies for {ledger.coach_count()} coach(es)."


@dataclass(frozen=True)
class Job:
    name: str
    title: str
    schedule: Daily | Every
    work: Callable[[date], str]


def schedule_from(config: dict[str, Any]) -> dict[str, Job]:
    """The jobs and when they run, from the settings; a bad setting stops the app starting."""
    jobs_list = [
        Job(
            "scheduled-payouts",
            "Scheduled payouts",
            Daily(_time(config, "JOB_PAYOUTS_AT")),
            _scheduled_payouts,
        ),
        Job(
            "replay-missed",
            "Replay missed Stripe events",
            Every(_minutes(config, "JOB_REPLAY_MISSED_EVERY")),
            _replay_missed,
        ),
        Job(
            "release-holds",
            "Release expired and abandoned holds",
            Every(_minutes(config, "JOB_RELEASE_HOLDS_EVERY")),
            _release_holds,
        ),
        Job(
            "booking-reminders",
            "Remind mentees of sessions in the next 24 hours",
            Every(_minutes(config, "JOB_REMINDERS_EVERY")),
            _booking_reminders,
        ),
        Job(
            "reconcile",
            "Reconcile the previous day",
            Daily(_time(config, "JOB_RECONCILE_AT")),
            _nightly_reconciliation,
        ),
        Job(
            "ledger-verify",
            "Verify the ledger",
            Daily(_time(config, "JOB_LEDGER_VERIFY_AT")),
            _verify_ledger,
        ),
    ]
    return {job.name: job for job in jobs_list}


def _time(config: dict[str, Any], key: str) -> time:
    try:
        return time.fromisoformat(str(config[key]))
    except ValueError:
        raise RuntimeError(f"{key}={config[key]!r} is not a time of day like 06:00.") from None


def _minutes(config: dict[str, Any], key: str) -> int:
    value = str(config[key])
    if not value.isdigit() or not 1 <= int(value) <= 1440 or 1440 % int(value):
        raise RuntimeError(f"{key}={value!r} must be a number of minutes that divides a day.")
    return int(value)


def platform_zone(config: dict[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(config["PLATFORM_TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError):
        raise RuntimeError(
            f"PLATFORM_TIMEZONE={config['PLATFORM_TIMEZONE']!r} is not a time zone like "
            "Europe/Paris or UTC."
        ) from None


# --- the queue -----------------------------------------------------------------------------------


class Tasks:
    """The app's queue, its tasks and its schedule; `app.extensions["tasks"]`."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.zone = platform_zone(app.config)
        self.jobs = schedule_from(app.config)
        self.huey = _make_huey(app)
        retries = int(app.config["JOB_RETRIES"])
        delay = int(app.config["JOB_RETRY_DELAY"])
        task = self.huey.task
        self._run_job = task(retries=retries, retry_delay=delay, retry_backoff=2, context=True)(
            self._in_app(self.run_job, "run_job")
        )
        self._reconcile = task(retries=retries, retry_delay=delay, retry_backoff=2, context=True)(
            self._in_app(self.reconcile, "reconcile")
        )
        self.huey.periodic_task(crontab(), name="tick")(self._in_app(self.tick, "tick"))
        # Mail: one task for the messages of each commit, queued after it, and a sweep each
        # minute for what is due (retries after a failed try, and anything a lost task left
        # behind). portal.outbox keeps its own tries and backoff, so these tasks are not retried
        # by the queue.
        self._deliver_mail = task()(self._in_app(self.deliver_mail, "deliver_mail"))
        self.huey.periodic_task(crontab(), name="send-mail")(
            self._in_app(self.send_mail, "send_mail")
        )

    def _in_app(self, func: Callable[..., Any], name: str) -> Callable[..., Any]:
        def in_app_context(*args: Any, **kwargs: Any) -> Any:
            with self.app.app_context():
                return func(*args, **kwargs)

        in_app_context.__name__ = name
        return in_app_context

    def local_now(self) -> datetime:
        return utcnow().astimezone(self.zone)

    # -- what a consumer runs

    def tick(self, now: datetime | None = None) -> list[int]:
        """Claim every job due now for its period and queue the claimed runs."""
        local = (now or utcnow()).astimezone(self.zone)
        claimed = []
        for job in self.jobs.values():
            period = job.schedule.period(local)
            if period is not None and (run_id := jobs.claim(job.name, period)) is not None:
                claimed.append(run_id)
        for run_id in claimed:
            self._run_job(run_id)
        return claimed

    def run_job(self, run_id: int, task: Any = None) -> None:
        run = jobs.begin(run_id)
        if run is None:
            return  # done already: a task delivered twice does its work once
        job = self.jobs.get(run.job)
        try:
            if job is None:
                raise Finding(f"No job is called {run.job!r} any more.")
            result = job.work(self._day_of(run))
        except Finding as exc:
            jobs.fail(run_id, str(exc), final=True)
            return
        except Exception as exc:
            final = task is None or not task.retries
            jobs.fail(run_id, _describe(exc), final=final)
            logger.warning("Job %s (run %s) failed: %s", run.job, run_id, _describe(exc))
            raise
        jobs.succeed(run_id, result)

    def reconcile(self, run_id: int, task: Any = None) -> None:
        from portal.admin import reconciliation_runs

        try:
            reconciliation_runs.perform(run_id)
        except Exception:
            if task is not None and task.retries:
                reconciliation_runs.mark_retrying(run_id)
            raise

    def _day_of(self, run: Any) -> date:
        if run.period.startswith("manual:"):
            return run.created_at.astimezone(self.zone).date()
        return date.fromisoformat(run.period[:10])

    def deliver_mail(self, message_ids: list[int]) -> None:
        from portal import outbox

        for message_id in message_ids:
            outbox.deliver(message_id)

    def send_mail(self) -> None:
        from portal import outbox

        outbox.deliver_due()

    # -- what the portal queues

    def queue_mail_delivery(self, message_ids: list[int]) -> None:
        """Queue committed outbox messages for delivery, in one task: a paid booking's two
        messages cost one write to the queue, not two."""
        self._deliver_mail(message_ids)

    def queue_run(self, run_id: int) -> None:
        """Queue a claimed run (commit the claim first: the consumer reads it)."""
        self._run_job(run_id)

    def queue_reconciliation(self, run_id: int) -> None:
        """Queue a stored reconciliation run (committed first)."""
        self._reconcile(run_id)


def _describe(exc: Exception) -> str:
    return getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"


def _make_huey(app: Flask) -> Huey:
    config = app.config
    immediate = bool(config["TASKS_IMMEDIATE"])
    if config["REDIS_URL"]:
        return RedisHuey("portal", url=config["REDIS_URL"], immediate=immediate, results=False)
    return SqliteHuey(
        "portal", filename=config["TASKS_SQLITE_FILE"], immediate=immediate, results=False
    )


def init_tasks(app: Flask) -> Tasks:
    tasks = Tasks(app)
    app.extensions["tasks"] = tasks
    return tasks


def current_tasks() -> Tasks:
    """The current app's queue."""
    return current_app.extensions["tasks"]


# --- the consumer --------------------------------------------------------------------------------

jobs_cli = AppGroup("jobs", help="The portal's task queue and schedule.")


@jobs_cli.command("worker")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def worker_command(workers: int) -> None:
    """Run a consumer: the queued tasks and the schedule. Start one on each machine that
    should share the work (with REDIS_URL set); each period's run happens once."""
    queue = current_tasks()
    if queue.huey.immediate:
        raise click.ClickException("The queue runs tasks immediately here; nothing to consume.")
    where = "Redis" if current_app.config["REDIS_URL"] else current_app.config["TASKS_SQLITE_FILE"]
    click.echo(f"Consuming the portal's tasks from {where} with {workers} worker(s).")
    queue.huey.create_consumer(workers=workers, worker_type="thread", periodic=True).run()
