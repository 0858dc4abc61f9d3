"""Recovery and membership windows: utterances.fanned_out_at (a fan-out that never finished is
resumed) and the presence table (each stretch of a user's membership of a room)

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("utterances") as batch:
        batch.add_column(sa.Column("fanned_out_at", sa.Float(), nullable=True))
    # Whatever was said before this version is history: nothing to resume.
    op.execute("UPDATE utterances SET fanned_out_at = received_at")
    op.create_index("ix_utterances_unfinished", "utterances", ["fanned_out_at", "received_at"])
    op.create_table(
        "presence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("joined_at", sa.Float(), nullable=False),
        sa.Column("left_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_presence_room", "presence", ["room_id", "joined_at"])
    op.create_index("ix_presence_user_id", "presence", ["user_id"])
    # Until now only memberships were known: each becomes one stretch from the room's start, so
    # nobody loses history they could read before.
    op.execute("INSERT INTO presence (room_id, user_id, joined_at, left_at) "
               "SELECT room_id, user_id, 0, left_at FROM participants")


def downgrade() -> None:
    op.drop_index("ix_presence_user_id", table_name="presence")
    op.drop_index("ix_presence_room", table_name="presence")
    op.drop_table("presence")
    op.drop_index("ix_utterances_unfinished", table_name="utterances")
    with op.batch_alter_table("utterances") as batch:
        batch.drop_column("fanned_out_at")
