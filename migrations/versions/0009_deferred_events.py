"""Keep an event about an object the portal has not recorded yet, to apply when it appears.

A `charge.dispute.created` that arrived before its payment was recorded used to be stored as
`ignored`, and its redelivery was a duplicate: the dispute was never flagged. Such an event is
now `deferred`, naming the object it waits for in `waiting_for`.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CHECK = "ck_stripe_events_event_status"


def upgrade():
    with op.batch_alter_table("stripe_events") as batch:
        batch.add_column(sa.Column("waiting_for", sa.String(255), nullable=True))
        batch.create_index(op.f("ix_stripe_events_waiting_for"), ["waiting_for"])
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.create_check_constraint(
            op.f(CHECK), "status IN ('processed', 'ignored', 'failed', 'deferred')"
        )


def downgrade():
    op.execute("UPDATE stripe_events SET status = 'failed' WHERE status = 'deferred'")
    with op.batch_alter_table("stripe_events") as batch:
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.create_check_constraint(op.f(CHECK), "status IN ('processed', 'ignored', 'failed')")
        batch.drop_index(op.f("ix_stripe_events_waiting_for"))
        batch.drop_column("waiting_for")
