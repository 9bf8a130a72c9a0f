"""Keep the quote a booking was held at: the member discount, beside price, fee and share.

The price a mentee pays, its platform fee and the coach's share were already on the booking;
the member discount (its amount and percentage) travelled only in Stripe's metadata. With these
columns the whole quote is decided once, when the slot is held, and the payment's transaction
copies it from the booking. Bookings made before have no discount recorded: 0.

Plain ADD/DROP COLUMN (no table copy) on both databases, so the partial unique index on held
slots is left as it is.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "coaching_sessions",
        sa.Column(
            "discount_amount",
            sa.Numeric(10, 2, asdecimal=True),
            nullable=False,
            server_default="0",
        ),
    )
    op.add_column(
        "coaching_sessions",
        sa.Column(
            "discount_percentage",
            sa.Numeric(5, 2, asdecimal=True),
            nullable=False,
            server_default="0",
        ),
    )


def downgrade():
    op.drop_column("coaching_sessions", "discount_percentage")
    op.drop_column("coaching_sessions", "discount_amount")
