"""users.tts_engine: each user's speech synthesis engine preference

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("tts_engine", sa.String(length=32), nullable=False,
                                   server_default="local"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("tts_engine")
