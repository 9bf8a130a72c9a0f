"""Release a coach's funds payment by payment: one release entry per transaction.

Until now a `balance.available` event's snapshot of the available balance decided how much
moved from pending, in one entry per event. A snapshot is stale once a later refund or payout
has been recorded, so the portal now moves each payment's share when Stripe reports that
payment's balance transaction available, in an entry that names the transaction; the unique
index on (kind, transaction_id) takes release entries too, so a payment is released once.

Entries written the old way stay as they are (they moved real money). So that the payments they
released are not released again, each coach's old releases are matched to their payments,
oldest first, as far as their total covers whole payments, and each matched payment gets a
release entry of zero that only marks it released. Stripe releases whole payments, so the
totals cover whole payments unless a stale snapshot moved too much or too little; what is left
over then shows in `flask reconcile`, as it did before.

Revision ID: 0020
Revises: 0019
"""

from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

PER_TRANSACTION = sa.text("kind IN ('payment', 'dispute', 'funds_available')")
BEFORE = sa.text("kind IN ('payment', 'dispute')")

entries = sa.table(
    "ledger_entries",
    sa.column("id", sa.Integer),
    sa.column("coach_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("currency", sa.String),
    sa.column("total_delta", sa.Numeric(12, 2)),
    sa.column("pending_delta", sa.Numeric(12, 2)),
    sa.column("available_delta", sa.Numeric(12, 2)),
    sa.column("transaction_id", sa.Integer),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
profiles = sa.table(
    "coach_profiles",
    sa.column("user_id", sa.Integer),
    sa.column("ledger_entry_count", sa.Integer),
)


def upgrade():
    _index(PER_TRANSACTION)
    _mark_released_payments()


def downgrade():
    # The release entries stay: they moved real money, and the old rules read them as entries
    # of no event, which they allow.
    _index(BEFORE)


def _index(where: sa.TextClause) -> None:
    op.drop_index("uq_ledger_entries_kind_transaction", table_name="ledger_entries")
    op.create_index(
        "uq_ledger_entries_kind_transaction",
        "ledger_entries",
        ["kind", "transaction_id"],
        unique=True,
        sqlite_where=where,
        postgresql_where=where,
    )


def _mark_released_payments() -> None:
    conn = op.get_bind()
    old_releases = conn.execute(
        sa.select(entries.c.coach_id, sa.func.sum(entries.c.available_delta))
        .where(entries.c.kind == "funds_available", entries.c.transaction_id.is_(None))
        .group_by(entries.c.coach_id)
    ).all()
    now = datetime.now(UTC)
    for coach_id, total in old_releases:
        # After a downgrade and this upgrade again, the payments marked the first time are
        # covered already; payments released one by one meanwhile moved their own money.
        left = Decimal(total or 0) - _marked_shares(conn, coach_id)
        marked = 0
        for transaction_id, share, currency in conn.execute(_unreleased_payments(coach_id)):
            if Decimal(share) > left:
                break
            left -= Decimal(share)
            conn.execute(
                entries.insert().values(
                    coach_id=coach_id,
                    kind="funds_available",
                    currency=currency,
                    total_delta=0,
                    pending_delta=0,
                    available_delta=0,
                    transaction_id=transaction_id,
                    created_at=now,
                )
            )
            marked += 1
        if marked:
            conn.execute(
                profiles.update()
                .where(profiles.c.user_id == coach_id)
                .values(ledger_entry_count=profiles.c.ledger_entry_count + marked)
            )


_payment = entries.alias("payment")
_release = entries.alias("release")
_RELEASE_OF_PAYMENT = sa.and_(
    _release.c.kind == "funds_available",
    _release.c.transaction_id == _payment.c.transaction_id,
)


def _marked_shares(conn: sa.Connection, coach_id: int) -> Decimal:
    """What the payments marked released (by a release entry of zero) put in pending."""
    marked = conn.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(_payment.c.pending_delta), 0))
        .select_from(_payment.join(_release, _RELEASE_OF_PAYMENT))
        .where(
            _payment.c.coach_id == coach_id,
            _payment.c.kind == "payment",
            _release.c.available_delta == 0,
        )
    )
    return Decimal(marked or 0)


def _unreleased_payments(coach_id: int) -> sa.Select:
    """The coach's payments without a release entry, oldest first, as Stripe releases them."""
    return (
        sa.select(_payment.c.transaction_id, _payment.c.pending_delta, _payment.c.currency)
        .where(
            _payment.c.coach_id == coach_id,
            _payment.c.kind == "payment",
            ~sa.exists().where(_RELEASE_OF_PAYMENT),
        )
        .order_by(_payment.c.id)
    )
