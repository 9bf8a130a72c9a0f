"""Count each coach's ledger entries on the profile, so a version of the history is one read.

The ledger adds one to `coach_profiles.ledger_entry_count` with every entry it writes, under
the coach's row lock; existing profiles start from the entries they already have.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("coach_profiles") as batch:
        batch.add_column(
            sa.Column("ledger_entry_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_check_constraint(
            op.f("ck_coach_profiles_ledger_entry_count_not_negative"), "ledger_entry_count >= 0"
        )
    op.execute(
        "UPDATE coach_profiles SET ledger_entry_count = ("
        " SELECT count(*) FROM ledger_entries"
        " WHERE ledger_entries.coach_id = coach_profiles.user_id)"
    )


def downgrade():
    with op.batch_alter_table("coach_profiles") as batch:
        batch.drop_constraint(
            op.f("ck_coach_profiles_ledger_entry_count_not_negative"), type_="check"
        )
        batch.drop_column("ledger_entry_count")
