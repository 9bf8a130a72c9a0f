"""Work that runs by itself: each run of a scheduled job, and each stored reconciliation."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, JSONType, UTCDateTime, utcnow

# A run's life: claimed, running, then succeeded; or retrying after a failed try, and failed
# after its last one (an admin sees it among what needs attention).
QUEUED = "queued"
RUNNING = "running"
RETRYING = "retrying"
SUCCEEDED = "succeeded"
FAILED = "failed"


class JobRun(Base):
    """One run of a job for one period. `(job, period)` is unique: that row is the claim that
    lets exactly one of any number of consumers run a periodic job for its period."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(sa.String(64))
    # The job's period in the platform's time zone ("2026-11-29", "2026-11-29T21:15"), or
    # "manual:<run>" for a run an admin started.
    period: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    result: Mapped[str | None] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.UniqueConstraint("job", "period"),
        sa.Index("ix_job_runs_job_created", "job", "created_at"),
        sa.Index("ix_job_runs_status", "status"),
    )

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def __repr__(self) -> str:
        return f"<JobRun {self.id} {self.job} {self.period} {self.status}>"


class ReconciliationRun(Base):
    """A stored comparison of the portal with Stripe for a period (whole days, both included)."""

    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    since: Mapped[date] = mapped_column(sa.Date)
    until: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16), default=QUEUED)
    # The step under way (of `portal.admin.reconciliation_runs.STEPS`) and how many are done.
    step: Mapped[str | None] = mapped_column(sa.String(32))
    steps_done: Mapped[int] = mapped_column(default=0, server_default="0")
    compared: Mapped[dict[str, int] | None] = mapped_column(JSONType)
    mismatches: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    drift: Mapped[list[str] | None] = mapped_column(JSONType)
    # The platform's balance movements: [currency, movement, net amount as a decimal string].
    balance: Mapped[list[list[str]] | None] = mapped_column(JSONType)
    # Charges left uncompared by runs made before membership payments were compared; 0 since.
    other_charges: Mapped[int] = mapped_column(default=0, server_default="0")
    mismatch_count: Mapped[int] = mapped_column(default=0, server_default="0")
    drift_count: Mapped[int] = mapped_column(default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(sa.Text)
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (sa.Index("ix_reconciliation_runs_created", "created_at", "id"),)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def agrees(self) -> bool:
        return self.status == SUCCEEDED and not self.mismatch_count and not self.drift_count

    def __repr__(self) -> str:
        return f"<ReconciliationRun {self.id} {self.since}..{self.until} {self.status}>"
