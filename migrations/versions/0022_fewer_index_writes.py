"""Write fewer index entries per payment: drop what no query reads, skip what is empty.

Every paid booking inserts an event, a transaction, a ledger entry and two outbox messages, and
each insert writes an entry in every index of its table. Some of those entries served nothing:

- `ix_coaching_sessions_stripe_payment_intent_id` serves no query: a booking is found by its
  id or its Checkout Session, a PaymentIntent's payment by `transactions`. The booking's row
  is updated as it is paid, so the entry was written for every payment.
- `stripe_events.waiting_for`, the ledger entries' `refund_id`, `payout_id` and
  `stripe_event_id`, and the outbox's `dedupe_key` are empty for a payment's rows, and they
  are only ever looked up by a value. Their indexes now hold only the rows that have one
  (`WHERE column IS NOT NULL`), which a lookup by value still uses on both databases. A unique
  index never compared empty values, so each one refuses exactly what it refused before.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# The table, the index and the column it holds only when not empty; unique or not.
SKIPPING_EMPTY = [
    ("stripe_events", "ix_stripe_events_waiting_for", ["waiting_for"], False),
    ("ledger_entries", "uq_ledger_entries_kind_refund", ["kind", "refund_id"], True),
    ("ledger_entries", "uq_ledger_entries_kind_payout", ["kind", "payout_id"], True),
    ("ledger_entries", "uq_ledger_entries_kind_event", ["kind", "stripe_event_id"], True),
]
# The table, and the indexes no query needs that it loses.
UNUSED = {
    "coaching_sessions": [
        ("ix_coaching_sessions_stripe_payment_intent_id", ["stripe_payment_intent_id"]),
    ],
}


def _not_empty(column: str) -> dict[str, sa.TextClause]:
    where = sa.text(f"{column} IS NOT NULL")
    return {"sqlite_where": where, "postgresql_where": where}


def upgrade():
    for table, indexes in UNUSED.items():
        with op.batch_alter_table(table) as batch:
            for name, _columns in indexes:
                batch.drop_index(name)
    for table, name, columns, unique in SKIPPING_EMPTY:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, unique=unique, **_not_empty(columns[-1]))
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("uq_outbox_dedupe_key", type_="unique")
    op.create_index(
        "uq_outbox_dedupe_key", "outbox", ["dedupe_key"], unique=True, **_not_empty("dedupe_key")
    )


def downgrade():
    op.drop_index("uq_outbox_dedupe_key", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.create_unique_constraint("uq_outbox_dedupe_key", ["dedupe_key"])
    for table, name, columns, unique in SKIPPING_EMPTY:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, unique=unique)
    for table, indexes in UNUSED.items():
        with op.batch_alter_table(table) as batch:
            for name, columns in indexes:
                batch.create_index(name, columns)
