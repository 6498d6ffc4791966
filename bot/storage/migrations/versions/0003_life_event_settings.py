"""Staff's settings of the life events: order of their articles, former names.

Revision ID: 0003_life_events
Revises: 0002_acks
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_life_events"
down_revision: str | None = "0002_acks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("life_event_settings"):
        # A base adopted from metadata.create_all (bot/schema.py) has it already.
        return
    op.create_table(
        "life_event_settings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tag", sa.Text(), nullable=False),
        sa.Column("article_order", sa.JSON(), nullable=False),
        sa.Column("former_names", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tag"),
    )


def downgrade() -> None:
    op.drop_table("life_event_settings")
