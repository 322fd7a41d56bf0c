"""Per-conversation summaries of the event log, kept by a job for fast reports

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_summaries",
        sa.Column(
            "conversation_id", sa.String(36), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("first_response", sa.Double()),
        sa.Column("resolution", sa.Double()),
        sa.Column("replies_auto", sa.Integer(), nullable=False),
        sa.Column("replies_by_person", sa.Integer(), nullable=False),
        sa.Column("reopens", sa.Integer(), nullable=False),
        sa.Column("reopened_soon", sa.Boolean(), nullable=False),
        sa.Column("rating", sa.Integer()),
        sa.Column("first_queued", sa.Boolean()),
        sa.Column("auto_sent", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("approved_unchanged", sa.Integer(), nullable=False),
        sa.Column("edited", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("escalated", sa.Integer(), nullable=False),
        sa.Column("waits", sa.Text(), nullable=False),
        sa.Column("usage", sa.Text(), nullable=False),
        sa.Column("business_first_response", sa.Double()),
        sa.Column("business_resolution", sa.Double()),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("last_event_at", sa.DateTime(), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("drafts", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        # In the order of started_at on SQLite: a period's rows are read in one run.
        sa.PrimaryKeyConstraint("started_at", "conversation_id"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_conversation_summaries_conversation_id",
        "conversation_summaries",
        ["conversation_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_table("conversation_summaries")
    # The watermark without its rows would hide every conversation folded before it.
    op.execute(
        "DELETE FROM desk_settings WHERE key IN ('insights_summaries', 'insights_summaries_lease')"
    )
