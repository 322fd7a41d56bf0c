"""turns: each customer message's turn, committed with the message, drafted as a job

drafts.turn_id (unique) makes recording a turn's draft idempotent: a turn that
two workers drafted after a crash still ends with exactly one draft.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "conversation_id", sa.String(36), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("contact_email", sa.String(320), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_turns_message_id", "turns", ["message_id"], unique=True)
    op.create_index("ix_turns_status", "turns", ["status", "lease_until"])
    op.add_column("drafts", sa.Column("turn_id", sa.Integer(), nullable=True))
    op.create_index("ix_drafts_turn_id", "drafts", ["turn_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_drafts_turn_id", "drafts")
    with op.batch_alter_table("drafts") as batch:
        batch.drop_column("turn_id")
    op.drop_table("turns")
