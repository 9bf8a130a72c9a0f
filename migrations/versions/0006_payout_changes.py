"""Count the changes to each connected account's payouts, so a version of them is one read.

The payouts service adds one to `stripe_connected_accounts.payout_changes` whenever it records
or moves on one of the account's payouts, under the account's row lock.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("stripe_connected_accounts") as batch:
        batch.add_column(
            sa.Column("payout_changes", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_check_constraint(
            op.f("ck_stripe_connected_accounts_payout_changes_not_negative"), "payout_changes >= 0"
        )


def downgrade():
    with op.batch_alter_table("stripe_connected_accounts") as batch:
        batch.drop_constraint(
            op.f("ck_stripe_connected_accounts_payout_changes_not_negative"), type_="check"
        )
        batch.drop_column("payout_changes")
