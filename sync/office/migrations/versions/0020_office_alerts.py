"""The office's alerts (sync/office/alerts.py): office_alert.

Revision ID: 0020_office_alerts
Revises: 0019_console_accounts
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_office_alerts"
down_revision = "0019_console_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "office_alert",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("made_at", sa.Float(), nullable=False),
        sa.Column("kiosk_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=32), server_default="", nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=True),
        sa.Column("detail", sa.Text(), server_default="{}", nullable=False),
        sa.Column("ack_by", sa.String(length=64), nullable=True),
        sa.Column("ack_at", sa.Float(), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_office_alert_kiosk_id", "office_alert", ["kiosk_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_office_alert_kiosk_id", table_name="office_alert")
    op.drop_table("office_alert")
