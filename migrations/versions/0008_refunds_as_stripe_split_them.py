"""Keep each refund's split as Stripe made it: its transfer reversal, and no local sum check.

Stripe rounds a refund's transfer reversal and its application fee refund each on its own (a
47.50 refund of 95.00 at a 17.25% fee reverses 39.31 and refunds 8.20 of the fee), so the
two need not add up to the refund; the refund records what Stripe did.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("transfer_reversed", sa.Numeric(10, 2), nullable=True))
        batch.drop_constraint(op.f("ck_refunds_split_adds_up"), type_="check")
        batch.create_check_constraint(
            op.f("ck_refunds_fee_refunded_not_negative"), "platform_fee_refunded >= 0"
        )


def downgrade():
    with op.batch_alter_table("refunds") as batch:
        batch.drop_constraint(op.f("ck_refunds_fee_refunded_not_negative"), type_="check")
        batch.create_check_constraint(
            op.f("ck_refunds_split_adds_up"),
            "ROUND((platform_fee_refunded + coach_share_reversed - amount) * 100) = 0",
        )
        batch.drop_column("transfer_reversed")
