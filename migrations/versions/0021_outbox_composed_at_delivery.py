"""Let an outbox message name what to write instead of holding it written: its booking.

A paid booking's two messages and their calendar invitation were rendered inside the payment's
request, a fifth of a webhook's work. The payment now writes each message's row (its kind, its
reader, its booking) in the same transaction, and the delivery task renders the message before
sending it and keeps what it rendered on the row. Until then a row has no address, subject or
bodies, so those columns may be empty.

Revision ID: 0021
Revises: 0020
"""

import logging

import sqlalchemy as sa
from alembic import op

logger = logging.getLogger("alembic.runtime.migration")

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

WRITTEN_LATER = {"to_address": sa.String(254), "subject": sa.String(255)}
BODIES = ("text_body", "html_body")


def upgrade():
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("booking_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_outbox_booking_id_coaching_sessions"),
            "coaching_sessions",
            ["booking_id"],
            ["id"],
            ondelete="SET NULL",
        )
        for name, type_ in WRITTEN_LATER.items():
            batch.alter_column(name, existing_type=type_, nullable=True)
        for name in BODIES:
            batch.alter_column(name, existing_type=sa.Text(), nullable=True)


# Still owed and not rendered: the previous code would send such a row empty.
GIVE_UP = sa.text(
    "UPDATE outbox SET status = 'failed', last_error = 'Not rendered before a downgrade'"
    " WHERE text_body IS NULL AND status IN ('pending', 'sending')"
)


def downgrade():
    # A message not yet rendered cannot be kept without its bodies: it is given up as failed,
    # and its row says so, rather than sent empty. Drain the queue before a downgrade
    # (docs/scaling.md); whatever is left is counted here. A skipped or failed row keeps its
    # status and its reason: the previous code leaves both alone.
    if op.get_context().as_sql:
        op.execute(GIVE_UP)
    else:
        given_up = op.get_bind().execute(GIVE_UP).rowcount
        if given_up:
            logger.warning(
                "Gave up %s outbox message(s) not rendered before the downgrade", given_up
            )
    op.execute(
        "UPDATE outbox SET to_address = COALESCE(to_address, ''), subject = COALESCE(subject, ''),"
        " text_body = '', html_body = '' WHERE text_body IS NULL"
    )
    with op.batch_alter_table("outbox") as batch:
        for name in BODIES:
            batch.alter_column(name, existing_type=sa.Text(), nullable=False)
        for name, type_ in WRITTEN_LATER.items():
            batch.alter_column(name, existing_type=type_, nullable=False)
        batch.drop_constraint(op.f("fk_outbox_booking_id_coaching_sessions"), type_="foreignkey")
        batch.drop_column("booking_id")
