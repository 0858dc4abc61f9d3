"""Segments: utterances.utterance_key and utterances.part (a long utterance is committed in parts
while the speaker talks; its parts share the key and are read in part order)

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("utterances") as batch:
        batch.add_column(sa.Column("utterance_key", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("part", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_utterances_key", "utterances", ["utterance_key", "part"])


def downgrade() -> None:
    op.drop_index("ix_utterances_key", table_name="utterances")
    with op.batch_alter_table("utterances") as batch:
        batch.drop_column("part")
        batch.drop_column("utterance_key")
