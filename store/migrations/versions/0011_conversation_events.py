"""The conversation event log: everything that happens to a conversation, append-only

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "conversation_id", sa.String(36), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("draft_id", sa.Integer()),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_conversation_events_conversation_id", "conversation_events", ["conversation_id"]
    )
    op.create_index("ix_conversation_events_at", "conversation_events", ["at"])


def downgrade() -> None:
    op.drop_table("conversation_events")
