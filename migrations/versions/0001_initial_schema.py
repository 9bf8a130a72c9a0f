"""The initial schema: every table of the seed, plus events, slots, refunds, ledger and audit.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 14:24:43.686072

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('stripe_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stripe_event_id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('account', sa.String(length=255), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.Enum('processed', 'ignored', 'failed', name='event_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='1', nullable=False),
    sa.Column('stripe_created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events')),
    sa.UniqueConstraint('stripe_event_id', name=op.f('uq_stripe_events_stripe_event_id'))
    )
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.create_index('ix_stripe_events_received', ['received_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stripe_events_type'), ['type'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.Enum('mentee', 'coach', 'admin', name='role', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('session_token', sa.String(length=64), nullable=False),
    sa.Column('stripe_customer_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_connect_account_id', sa.String(length=255), nullable=True),
    sa.Column('default_payment_method_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('email = lower(email)', name=op.f('ck_users_email_lower')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email')),
    sa.UniqueConstraint('stripe_connect_account_id', name=op.f('uq_users_stripe_connect_account_id')),
    sa.UniqueConstraint('stripe_customer_id', name=op.f('uq_users_stripe_customer_id'))
    )
    op.create_table('audit_logs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('target_type', sa.String(length=64), nullable=False),
    sa.Column('target_id', sa.String(length=64), nullable=False),
    sa.Column('before', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('after', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_logs_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_logs'))
    )
    with op.batch_alter_table('audit_logs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_logs_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_logs_created_at'), ['created_at'], unique=False)

    op.create_table('availability_slots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('coach_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('duration_minutes > 0', name=op.f('ck_availability_slots_duration_positive')),
    sa.ForeignKeyConstraint(['coach_id'], ['users.id'], name=op.f('fk_availability_slots_coach_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_availability_slots')),
    sa.UniqueConstraint('coach_id', 'starts_at', name=op.f('uq_availability_slots_coach_id_starts_at'))
    )
    op.create_table('coach_profiles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('headline', sa.String(length=160), nullable=False),
    sa.Column('bio', sa.Text(), nullable=False),
    sa.Column('session_price', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False),
    sa.Column('session_minutes', sa.Integer(), nullable=False),
    sa.Column('is_published', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('payout_schedule', sa.Enum('instant', 'daily', 'weekly', 'monthly', name='payout_schedule', native_enum=False, create_constraint=True), server_default='instant', nullable=False),
    sa.Column('platform_fee_percentage', sa.Numeric(precision=5, scale=2), server_default='20.00', nullable=False),
    sa.Column('minimum_payout', sa.Numeric(precision=10, scale=2), server_default='100.00', nullable=False),
    sa.Column('total_earnings', sa.Numeric(precision=10, scale=2), server_default='0.00', nullable=False),
    sa.Column('available_balance', sa.Numeric(precision=10, scale=2), server_default='0.00', nullable=False),
    sa.Column('pending_balance', sa.Numeric(precision=10, scale=2), server_default='0.00', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('minimum_payout >= 0', name=op.f('ck_coach_profiles_minimum_payout_not_negative')),
    sa.CheckConstraint('platform_fee_percentage >= 0 AND platform_fee_percentage <= 100', name=op.f('ck_coach_profiles_platform_fee_percentage_range')),
    sa.CheckConstraint('session_minutes > 0', name=op.f('ck_coach_profiles_session_minutes_positive')),
    sa.CheckConstraint('session_price >= 0', name=op.f('ck_coach_profiles_session_price_not_negative')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_coach_profiles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coach_profiles')),
    sa.UniqueConstraint('user_id', name=op.f('uq_coach_profiles_user_id'))
    )
    op.create_table('payment_methods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('stripe_payment_method_id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('brand', sa.String(length=32), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('expiry_month', sa.Integer(), nullable=True),
    sa.Column('expiry_year', sa.Integer(), nullable=True),
    sa.Column('is_default', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('expiry_month IS NULL OR (expiry_month >= 1 AND expiry_month <= 12)', name=op.f('ck_payment_methods_expiry_month_range')),
    sa.CheckConstraint('length(last4) = 4', name=op.f('ck_payment_methods_last4_four_digits')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_payment_methods_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_methods')),
    sa.UniqueConstraint('user_id', 'stripe_payment_method_id', name=op.f('uq_payment_methods_user_id_stripe_payment_method_id'))
    )
    with op.batch_alter_table('payment_methods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_methods_user_id'), ['user_id'], unique=False)

    op.create_table('stripe_connected_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('stripe_account_id', sa.String(length=255), nullable=False),
    sa.Column('payouts_enabled', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('details_submitted', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('charges_enabled', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('default_currency', sa.String(length=3), server_default='USD', nullable=False),
    sa.Column('requires_onboarding', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('business_type', sa.String(length=32), nullable=True),
    sa.Column('business_profile', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('verification_status', sa.String(length=32), nullable=True),
    sa.Column('requirements', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_stripe_connected_accounts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_connected_accounts')),
    sa.UniqueConstraint('user_id', name=op.f('uq_stripe_connected_accounts_user_id'))
    )
    with op.batch_alter_table('stripe_connected_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stripe_connected_accounts_stripe_account_id'), ['stripe_account_id'], unique=True)

    op.create_table('subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('stripe_subscription_id', sa.String(length=255), nullable=False),
    sa.Column('stripe_price_id', sa.String(length=255), nullable=False),
    sa.Column('status', sa.Enum('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused', name='subscription_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('current_period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('current_period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancel_at_period_end', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False),
    sa.Column('interval', sa.Enum('day', 'week', 'month', 'year', name='billing_interval', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_subscriptions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions')),
    sa.UniqueConstraint('user_id', name=op.f('uq_subscriptions_user_id'))
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_stripe_subscription_id'), ['stripe_subscription_id'], unique=True)

    op.create_table('coaching_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('coach_id', sa.Integer(), nullable=False),
    sa.Column('mentee_id', sa.Integer(), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('pending_payment', 'confirmed', 'completed', 'canceled', name='session_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('stripe_checkout_session_id', sa.String(length=255), nullable=True),
    sa.Column('price_amount', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False),
    sa.Column('platform_fee_amount', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('coach_payout_amount', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('payment_status', sa.Enum('pending', 'processing', 'paid', 'failed', 'refunded', 'partially_refunded', 'canceled', name='payment_status', native_enum=False, create_constraint=True), server_default='pending', nullable=False),
    sa.Column('stripe_payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('platform_fee_amount + coach_payout_amount = price_amount', name=op.f('ck_coaching_sessions_fee_split_adds_up')),
    sa.CheckConstraint('price_amount >= 0', name=op.f('ck_coaching_sessions_price_not_negative')),
    sa.ForeignKeyConstraint(['coach_id'], ['users.id'], name=op.f('fk_coaching_sessions_coach_id_users')),
    sa.ForeignKeyConstraint(['mentee_id'], ['users.id'], name=op.f('fk_coaching_sessions_mentee_id_users')),
    sa.ForeignKeyConstraint(['slot_id'], ['availability_slots.id'], name=op.f('fk_coaching_sessions_slot_id_availability_slots'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coaching_sessions')),
    sa.UniqueConstraint('stripe_checkout_session_id', name=op.f('uq_coaching_sessions_stripe_checkout_session_id'))
    )
    with op.batch_alter_table('coaching_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_coaching_sessions_coach_starts', ['coach_id', 'starts_at'], unique=False)
        batch_op.create_index('ix_coaching_sessions_mentee_starts', ['mentee_id', 'starts_at'], unique=False)
        batch_op.create_index('ix_coaching_sessions_stripe_payment_intent_id', ['stripe_payment_intent_id'], unique=False)
        batch_op.create_index('uq_coaching_sessions_slot_held', ['slot_id'], unique=True, sqlite_where=sa.text("status IN ('pending_payment', 'confirmed')"), postgresql_where=sa.text("status IN ('pending_payment', 'confirmed')"))

    op.create_table('invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stripe_invoice_id', sa.String(length=255), nullable=False),
    sa.Column('amount', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False),
    sa.Column('status', sa.Enum('draft', 'open', 'paid', 'void', 'uncollectible', name='invoice_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('invoice_url', sa.String(length=2048), nullable=True),
    sa.Column('invoice_pdf', sa.String(length=2048), nullable=True),
    sa.Column('due_date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_invoices_subscription_id_subscriptions')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_invoices_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices'))
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoices_stripe_invoice_id'), ['stripe_invoice_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_invoices_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_user_id'), ['user_id'], unique=False)

    op.create_table('payouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stripe_payout_id', sa.String(length=255), nullable=False),
    sa.Column('amount', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False),
    sa.Column('status', sa.Enum('pending', 'in_transit', 'paid', 'failed', 'canceled', name='payout_status', native_enum=False, create_constraint=True), server_default='pending', nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('connected_account_id', sa.Integer(), nullable=False),
    sa.Column('arrival_date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payouts_amount_positive')),
    sa.ForeignKeyConstraint(['connected_account_id'], ['stripe_connected_accounts.id'], name=op.f('fk_payouts_connected_account_id_stripe_connected_accounts')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_payouts_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payouts'))
    )
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payouts_stripe_payout_id'), ['stripe_payout_id'], unique=True)
        batch_op.create_index('ix_payouts_user_created', ['user_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_payouts_user_id'), ['user_id'], unique=False)

    op.create_table('transactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('type', sa.Enum('subscription_payment', 'session_payment', name='transaction_type', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('status', sa.Enum('pending', 'completed', 'failed', 'refunded', 'partially_refunded', name='transaction_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('amount', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False),
    sa.Column('stripe_payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_transfer_id', sa.String(length=255), nullable=True),
    sa.Column('platform_fee', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('coach_payout', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('payer_id', sa.Integer(), nullable=False),
    sa.Column('coach_id', sa.Integer(), nullable=True),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_transactions_amount_not_negative')),
    sa.CheckConstraint('platform_fee + coach_payout = amount', name=op.f('ck_transactions_fee_split_adds_up')),
    sa.ForeignKeyConstraint(['coach_id'], ['users.id'], name=op.f('fk_transactions_coach_id_users')),
    sa.ForeignKeyConstraint(['payer_id'], ['users.id'], name=op.f('fk_transactions_payer_id_users')),
    sa.ForeignKeyConstraint(['session_id'], ['coaching_sessions.id'], name=op.f('fk_transactions_session_id_coaching_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions'))
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_coach_created', ['coach_id', 'created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transactions_coach_id'), ['coach_id'], unique=False)
        batch_op.create_index('ix_transactions_created_id', ['created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transactions_payer_id'), ['payer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transactions_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transactions_stripe_payment_intent_id'), ['stripe_payment_intent_id'], unique=False)
        batch_op.create_index('uq_transactions_payment_intent_type', ['stripe_payment_intent_id', 'type'], unique=True)

    op.create_table('refunds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.Column('stripe_refund_id', sa.String(length=255), nullable=True),
    sa.Column('status', sa.Enum('pending', 'succeeded', 'failed', 'canceled', name='refund_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('amount', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False),
    sa.Column('platform_fee_refunded', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('coach_share_reversed', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_refunds_amount_positive')),
    sa.CheckConstraint('platform_fee_refunded + coach_share_reversed = amount', name=op.f('ck_refunds_split_adds_up')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_refunds_requested_by_id_users')),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_refunds_transaction_id_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('stripe_refund_id', name=op.f('uq_refunds_stripe_refund_id'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('ledger_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('coach_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('payment', 'funds_available', 'refund', 'dispute', 'payout', 'payout_returned', name='ledger_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total_delta', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('pending_delta', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('available_delta', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('refund_id', sa.Integer(), nullable=True),
    sa.Column('payout_id', sa.Integer(), nullable=True),
    sa.Column('stripe_event_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['coach_id'], ['users.id'], name=op.f('fk_ledger_entries_coach_id_users')),
    sa.ForeignKeyConstraint(['payout_id'], ['payouts.id'], name=op.f('fk_ledger_entries_payout_id_payouts')),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_ledger_entries_refund_id_refunds')),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_ledger_entries_transaction_id_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entries_coach_id'), ['coach_id'], unique=False)
        batch_op.create_index('uq_ledger_entries_kind_event', ['kind', 'stripe_event_id'], unique=True)
        batch_op.create_index('uq_ledger_entries_kind_payout', ['kind', 'payout_id'], unique=True)
        batch_op.create_index('uq_ledger_entries_kind_refund', ['kind', 'refund_id'], unique=True)
        batch_op.create_index('uq_ledger_entries_kind_transaction', ['kind', 'transaction_id'], unique=True)



def downgrade():
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_ledger_entries_kind_transaction')
        batch_op.drop_index('uq_ledger_entries_kind_refund')
        batch_op.drop_index('uq_ledger_entries_kind_payout')
        batch_op.drop_index('uq_ledger_entries_kind_event')
        batch_op.drop_index(batch_op.f('ix_ledger_entries_coach_id'))

    op.drop_table('ledger_entries')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_transaction_id'))

    op.drop_table('refunds')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('uq_transactions_payment_intent_type')
        batch_op.drop_index(batch_op.f('ix_transactions_stripe_payment_intent_id'))
        batch_op.drop_index(batch_op.f('ix_transactions_session_id'))
        batch_op.drop_index(batch_op.f('ix_transactions_payer_id'))
        batch_op.drop_index('ix_transactions_created_id')
        batch_op.drop_index(batch_op.f('ix_transactions_coach_id'))
        batch_op.drop_index('ix_transactions_coach_created')

    op.drop_table('transactions')
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payouts_user_id'))
        batch_op.drop_index('ix_payouts_user_created')
        batch_op.drop_index(batch_op.f('ix_payouts_stripe_payout_id'))

    op.drop_table('payouts')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoices_user_id'))
        batch_op.drop_index(batch_op.f('ix_invoices_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_invoices_stripe_invoice_id'))

    op.drop_table('invoices')
    with op.batch_alter_table('coaching_sessions', schema=None) as batch_op:
        batch_op.drop_index('uq_coaching_sessions_slot_held', sqlite_where=sa.text("status IN ('pending_payment', 'confirmed')"), postgresql_where=sa.text("status IN ('pending_payment', 'confirmed')"))
        batch_op.drop_index('ix_coaching_sessions_stripe_payment_intent_id')
        batch_op.drop_index('ix_coaching_sessions_mentee_starts')
        batch_op.drop_index('ix_coaching_sessions_coach_starts')

    op.drop_table('coaching_sessions')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_stripe_subscription_id'))

    op.drop_table('subscriptions')
    with op.batch_alter_table('stripe_connected_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_connected_accounts_stripe_account_id'))

    op.drop_table('stripe_connected_accounts')
    with op.batch_alter_table('payment_methods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_methods_user_id'))

    op.drop_table('payment_methods')
    op.drop_table('coach_profiles')
    op.drop_table('availability_slots')
    with op.batch_alter_table('audit_logs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_logs_created_at'))
        batch_op.drop_index(batch_op.f('ix_audit_logs_actor_id'))

    op.drop_table('audit_logs')
    op.drop_table('users')
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_events_type'))
        batch_op.drop_index('ix_stripe_events_received')

    op.drop_table('stripe_events')
