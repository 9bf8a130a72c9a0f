"""Name one version of each coach's listing, and one life of the database, so a kept page is one read;
and keep the topics each coach offers sessions on, for the directory's filter.

`coach_profiles.listing_changes` is raised (under the coach's row lock) by every change to what
the directory and the coach's page show of the coach: profile, name, open times, the bookings
holding them, whether Stripe lets the coach take charges. `cache_generation` holds one row with a
random token; with its `xmin` on PostgreSQL, it changes when a backup is restored, so counters
wound back by a restore never name a page kept before it (`portal/models/caching.py`).

Revision ID: 0017
Revises: 0016
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("coach_profiles") as batch:
        batch.add_column(
            sa.Column("listing_changes", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_check_constraint(
            op.f("ck_coach_profiles_listing_changes_not_negative"), "listing_changes >= 0"
        )
    generation = op.create_table(
        "cache_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_generation")),
    )
    op.bulk_insert(generation, [{"id": 1, "token": secrets.token_hex(16)}])
    op.create_table(
        "coach_topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coach_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["coach_id"],
            ["users.id"],
            name=op.f("fk_coach_topics_coach_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coach_topics")),
        sa.UniqueConstraint("coach_id", "topic", name=op.f("uq_coach_topics_coach_id_topic")),
    )
    op.create_index("ix_coach_topics_topic_coach_id", "coach_topics", ["topic", "coach_id"])


def downgrade():
    op.drop_index("ix_coach_topics_topic_coach_id", table_name="coach_topics")
    op.drop_table("coach_topics")
    op.drop_table("cache_generation")
    with op.batch_alter_table("coach_profiles") as batch:
        batch.drop_constraint(
            op.f("ck_coach_profiles_listing_changes_not_negative"), type_="check"
        )
        batch.drop_column("listing_changes")
