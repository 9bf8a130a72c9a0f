"""Admin lookups: a payment's events by index, keyset on amount, one refund per confirmation.

- `stripe_events.object_id` / `.payment_intent_id`: the Stripe objects an event is about, copied
  from the payload at receipt (and back-filled here), so a transaction's events are an index
  lookup instead of a scan of every payload.
- `transactions (amount, id)`: the admin list sorted by amount pages by keyset.
- `transactions.stripe_transfer_id`: search by transfer id.
- `refunds.request_token`: unique, so a double-clicked refund confirmation makes one refund.
- `uq_ledger_entries_kind_transaction` becomes partial (payment and dispute entries only): a
  refund entry names its transaction too, and a second partial refund of the same payment
  collided with the first.

Every change is an added nullable column or an index, so SQLite needs no table rebuild.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 14:50:36.179885

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

ONE_PER_TRANSACTION = sa.text("kind IN ('payment', 'dispute')")


def upgrade():
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_token', sa.String(length=64), nullable=True))
        batch_op.create_index('uq_refunds_request_token', ['request_token'], unique=True)

    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('object_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('payment_intent_id', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_stripe_events_object_id'), ['object_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stripe_events_payment_intent_id'), ['payment_intent_id'], unique=False)

    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_amount_id', ['amount', 'id'], unique=False)
        batch_op.create_index('ix_transactions_stripe_transfer_id', ['stripe_transfer_id'], unique=False)

    op.drop_index('uq_ledger_entries_kind_transaction', table_name='ledger_entries')
    op.create_index(
        'uq_ledger_entries_kind_transaction', 'ledger_entries', ['kind', 'transaction_id'],
        unique=True, sqlite_where=ONE_PER_TRANSACTION, postgresql_where=ONE_PER_TRANSACTION,
    )

    _backfill_event_ids()


def _backfill_event_ids():
    """Fill the new event columns from the payloads already stored (webhooks never expand)."""
    if op.get_bind().dialect.name == 'postgresql':
        obj_id = "payload->'data'->'object'->>'id'"
        intent = "payload->'data'->'object'->>'payment_intent'"
    else:
        obj_id = "json_extract(payload, '$.data.object.id')"
        intent = "json_extract(payload, '$.data.object.payment_intent')"
    op.execute(f"UPDATE stripe_events SET object_id = {obj_id}")
    op.execute(
        "UPDATE stripe_events SET payment_intent_id = CASE "
        "WHEN object_id LIKE 'pi!_%' ESCAPE '!' THEN object_id "
        f"WHEN {intent} LIKE 'pi!_%' ESCAPE '!' THEN {intent} END"
    )


def downgrade():
    # Fails if a payment has two refund entries by then: the old index cannot hold them.
    op.drop_index('uq_ledger_entries_kind_transaction', table_name='ledger_entries')
    op.create_index(
        'uq_ledger_entries_kind_transaction', 'ledger_entries', ['kind', 'transaction_id'],
        unique=True,
    )

    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_stripe_transfer_id')
        batch_op.drop_index('ix_transactions_amount_id')

    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_events_payment_intent_id'))
        batch_op.drop_index(batch_op.f('ix_stripe_events_object_id'))
        batch_op.drop_column('payment_intent_id')
        batch_op.drop_column('object_id')

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index('uq_refunds_request_token')
        batch_op.drop_column('request_token')
