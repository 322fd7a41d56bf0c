"""drafts.translation, reviews.original: both languages of a reply to a foreign customer

A draft keeps its reply translated into the shop's language for the owner; a review whose
sent text was translated from the operator's own words keeps those words too.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("drafts", sa.Column("translation", sa.Text(), nullable=True))
    op.add_column("reviews", sa.Column("original", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("original")
    with op.batch_alter_table("drafts") as batch:
        batch.drop_column("translation")
