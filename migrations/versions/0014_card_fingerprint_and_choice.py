"""Keep each saved card's Stripe fingerprint, and whether the mentee chose to save it.

The fingerprint (Stripe's `card.fingerprint`, the same for the same card number) lets the portal
keep one row per card: saving a card already on file keeps the existing one. `chosen` is true
for a card the mentee asked to keep (the card page, or "Save my card" when paying); only such a
card is offered for one-click payment. Cards saved before were all saved from the card page or
with that box ticked, so they stay chosen; their fingerprint is filled in when Stripe next
tells the portal about them.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("payment_methods", sa.Column("fingerprint", sa.String(64), nullable=True))
    op.add_column(
        "payment_methods",
        sa.Column("chosen", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_index(
        "ix_payment_methods_user_id_fingerprint", "payment_methods", ["user_id", "fingerprint"]
    )


def downgrade():
    op.drop_index("ix_payment_methods_user_id_fingerprint", table_name="payment_methods")
    op.drop_column("payment_methods", "chosen")
    op.drop_column("payment_methods", "fingerprint")
