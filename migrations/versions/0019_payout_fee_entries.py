"""Let the ledger record an instant payout's fee as an entry of its own (`payout_fee`).

Stripe takes an instant payout's fee from the coach's available balance beside the payout's
amount; the entry keeps the coach's balance equal to Stripe's and says what the money paid for.

Revision ID: 0019
Revises: 0018
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

KINDS = ["payment", "funds_available", "refund", "dispute", "payout", "payout_returned"]


def upgrade():
    _allow([*KINDS, "payout_fee"])


def downgrade():
    _allow(KINDS)  # refused while fee entries exist: a downgrade must not forget money


def _allow(kinds: list[str]) -> None:
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_constraint(op.f("ck_ledger_entries_ledger_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_ledger_entries_ledger_kind"), f"kind IN ({listed})")
