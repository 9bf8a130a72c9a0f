"""Index ledger entries by transaction; drop the coach index the paging index makes redundant.

Every entry of a transaction (its payment, refunds and dispute reversal) is found through
`transaction_id`, and the foreign key's own checks read it; only `(kind, transaction_id)` for
two kinds was indexed. `ix_ledger_entries_coach_id` duplicated the leading column of
`ix_ledger_entries_coach_created` and cost every entry's insert a second index write.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ledger_entries") as batch:
        batch.create_index(op.f("ix_ledger_entries_transaction_id"), ["transaction_id"])
        batch.drop_index("ix_ledger_entries_coach_id")


def downgrade():
    with op.batch_alter_table("ledger_entries") as batch:
        batch.create_index("ix_ledger_entries_coach_id", ["coach_id"])
        batch.drop_index(op.f("ix_ledger_entries_transaction_id"))
