"""Record each run of a scheduled job, and keep each reconciliation with its findings.

`job_runs` has one row per job and period; its unique constraint is the claim that lets one
of any number of consumers run a periodic job once per period.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade():
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("period", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint("job", "period", name=op.f("uq_job_runs_job_period")),
    )
    op.create_index("ix_job_runs_job_created", "job_runs", ["job", "created_at"])
    op.create_index("ix_job_runs_status", "job_runs", ["status"])
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.String(32), nullable=True),
        sa.Column("steps_done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("compared", JSON, nullable=True),
        sa.Column("mismatches", JSON, nullable=True),
        sa.Column("drift", JSON, nullable=True),
        sa.Column("balance", JSON, nullable=True),
        sa.Column("other_charges", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("mismatch_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("drift_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_reconciliation_runs_requested_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
    )
    op.create_index(
        "ix_reconciliation_runs_created", "reconciliation_runs", ["created_at", "id"]
    )


def downgrade():
    op.drop_index("ix_reconciliation_runs_created", table_name="reconciliation_runs")
    op.drop_table("reconciliation_runs")
    op.drop_index("ix_job_runs_status", table_name="job_runs")
    op.drop_index("ix_job_runs_job_created", table_name="job_runs")
    op.drop_table("job_runs")
