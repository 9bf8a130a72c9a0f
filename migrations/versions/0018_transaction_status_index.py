"""Index transactions by status, then date: the admin's filtered list reads a range, not a scan.

The admin's transactions list filtered by status, newest first, walked `created_at` backwards
and threw away every row of another status: a page of a rare status (refunded, failed) read
the whole table (about 200 ms with 1,000,000 payments), and a page of a common one still read
rows it did not show. With `(status, created_at, id)` every page of a status filter, by date
and keyset, reads exactly its rows.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("transactions") as batch:
        batch.create_index(op.f("ix_transactions_status_created"), ["status", "created_at", "id"])


def downgrade():
    with op.batch_alter_table("transactions") as batch:
        batch.drop_index(op.f("ix_transactions_status_created"))
