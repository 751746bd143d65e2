"""outbox_lost: records the kiosk committed and can no longer send (missing from the file, or damaged)

The outbox's high-water mark outside the SQLite file (models/hwm.py) says which records a
damaged -wal file took with it; a record whose payload no longer matches its hash cannot be sent
either. Each is kept here as the problem record, and the office is told (sync/kiosk.py push).

Revision ID: 0007_outbox_lost
Revises: 0005_vouched_passes
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_outbox_lost"
down_revision = "0006_slow_lookup_hashes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_lost",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("found_at", sa.Float(), nullable=False),
        sa.Column("reported_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("epoch", "first_seq", "reason", name="uq_outbox_lost_range"),
    )


def downgrade() -> None:
    op.drop_table("outbox_lost")
