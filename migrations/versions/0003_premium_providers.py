"""Premium providers: users.stt_engine, rooms.glossary, and the usage table

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("stt_engine", sa.String(length=32), nullable=False,
                                   server_default="local"))
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("glossary", sa.Text(), nullable=False, server_default="[]"))
    op.create_table(
        "usage",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "provider", "unit", "room_id", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("usage")
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("glossary")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("stt_engine")
