"""The email channel and the owner's workday: mails in, the outbox, IMAP cursors, desk settings

Conversations learn their channel and, for email, where replies go. Every inbound mail is
kept whole; unreadable ones wait in a quarantine; outgoing mails and webhook calls are
rows with an idempotency key, stored with the change that caused them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(20), nullable=False, server_default="widget")
        )
        batch.add_column(sa.Column("contact_address", sa.String(320), nullable=True))
        batch.add_column(sa.Column("subject", sa.String(998), nullable=True))
        batch.add_column(sa.Column("reply_token", sa.String(32), nullable=True))
        batch.create_unique_constraint("uq_conversations_reply_token", ["reply_token"])
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.String(998), nullable=False, unique=True),
        sa.Column("conversation_id", sa.String(36), sa.ForeignKey("conversations.id")),
        sa.Column("chat_message_id", sa.Integer(), sa.ForeignKey("messages.id")),
        sa.Column("from_address", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(998), nullable=False),
        sa.Column("ignored", sa.String(30)),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_mail_messages_conversation_id", "mail_messages", ["conversation_id"])
    op.create_index("ix_mail_messages_chat_message_id", "mail_messages", ["chat_message_id"])
    op.create_table(
        "mail_quarantine",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "mail_cursors",
        sa.Column("mailbox", sa.String(500), primary_key=True),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("transport", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("recipient", sa.String(500), nullable=False),
        sa.Column("conversation_id", sa.String(36), sa.ForeignKey("conversations.id")),
        sa.Column("draft_id", sa.Integer()),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("message_id", sa.String(998)),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime()),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime()),
    )
    op.create_index("ix_outbox_status", "outbox", ["status", "lease_until"])
    op.create_index("ix_outbox_conversation_id", "outbox", ["conversation_id"])
    op.create_index("ix_outbox_draft_id", "outbox", ["draft_id"])
    op.create_index("ix_outbox_message_id", "outbox", ["message_id"])
    op.create_table(
        "desk_settings",
        sa.Column("key", sa.String(50), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("desk_settings", "outbox", "mail_cursors", "mail_quarantine", "mail_messages"):
        op.drop_table(table)
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("uq_conversations_reply_token", type_="unique")
        for column in ("reply_token", "subject", "contact_address", "channel"):
            batch.drop_column(column)
