"""drafts.answer_type: whether a reply was generated or is the owner's own FAQ answer

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "drafts",
        sa.Column("answer_type", sa.String(20), nullable=False, server_default="generated"),
    )


def downgrade() -> None:
    with op.batch_alter_table("drafts") as batch:
        batch.drop_column("answer_type")
