"""Check that a fee and a share add up to their amount to the cent, exactly, on SQLite too.

SQLite keeps NUMERIC values as floating point, so `platform_fee + coach_payout = amount` was
false for 4.00 + 15.99 and 19.99 (and for about a quarter of partial refunds): the insert failed
with a 500. The difference in cents, rounded, is exact on both databases.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CHECKS = [
    ("transactions", "fee_split_adds_up", "platform_fee + coach_payout", "amount"),
    ("coaching_sessions", "fee_split_adds_up", "platform_fee_amount + coach_payout_amount", "price_amount"),
    ("refunds", "split_adds_up", "platform_fee_refunded + coach_share_reversed", "amount"),
]  # fmt: skip


def upgrade():
    for table, name, parts, whole in CHECKS:
        _replace(table, name, f"ROUND(({parts} - {whole}) * 100) = 0")


def downgrade():
    for table, name, parts, whole in CHECKS:
        _replace(table, name, f"{parts} = {whole}")


def _replace(table: str, name: str, condition: str) -> None:
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
        batch.create_check_constraint(op.f(f"ck_{table}_{name}"), condition)
