"""orders: the shop's own status word, tracking link, expected delivery, refunds, shipping zip

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = ("shop_status", "tracking_url", "expected_delivery", "refunded_total", "shipping_zip")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("shop_status", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("tracking_url", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("expected_delivery", sa.DateTime(), nullable=True))
        batch.add_column(
            sa.Column(
                "refunded_total",
                sa.Numeric(precision=12, scale=2),
                nullable=False,
                server_default="0",
            )
        )
        batch.add_column(sa.Column("shipping_zip", sa.String(length=20), nullable=True))
    # Before this revision the status was one of our words, so it is the shop's word too.
    op.execute("UPDATE orders SET shop_status = status")


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        for column in COLUMNS:
            batch.drop_column(column)
