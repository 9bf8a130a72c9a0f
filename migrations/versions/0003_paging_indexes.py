"""Indexes for paging a coach's ledger activity and a mentee's invoices, newest first.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_ledger_entries_coach_created", "ledger_entries", ["coach_id", "created_at", "id"]
    )
    op.create_index("ix_invoices_user_created", "invoices", ["user_id", "created_at", "id"])


def downgrade():
    op.drop_index("ix_invoices_user_created", table_name="invoices")
    op.drop_index("ix_ledger_entries_coach_created", table_name="ledger_entries")
