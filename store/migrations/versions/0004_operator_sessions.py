"""operator sessions: operators.session_version ends every login of an operator at once

A login stores the operator's session_version; a logout or a new password raises it,
so every cookie issued before (other browsers, a copied cookie) stops working.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "operators",
        sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.drop_column("session_version")
