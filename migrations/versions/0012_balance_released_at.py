"""Remember when Stripe last released funds on each connected account.

`balance.available` sets `stripe_connected_accounts.balance_released_at` to the event's time, so
a payment recorded after it (its own events came late) knows to read the account's balance from
Stripe rather than wait in pending for a release that already happened.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("stripe_connected_accounts") as batch:
        batch.add_column(sa.Column("balance_released_at", sa.DateTime(timezone=True)))


def downgrade():
    with op.batch_alter_table("stripe_connected_accounts") as batch:
        batch.drop_column("balance_released_at")
