"""Give each person a time zone, an IANA name such as Europe/Berlin.

Every time is shown to a person in their zone; storage stays UTC. Accounts made before had
every time shown in UTC, so they keep UTC until their owner picks a zone on the profile page.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "users",
        sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"),
    )


def downgrade():
    op.drop_column("users", "time_zone")
