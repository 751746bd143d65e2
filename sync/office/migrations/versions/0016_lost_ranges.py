"""office_lost_range: the records a kiosk said it lost, as the problem record

A kiosk whose file lost committed records (a damaged -wal frame: its high-water mark outside the
file says which), or holds records that no longer match their hash, says so in its push. The
office keeps each claim here: "lost" rows cover only seqs it does not hold, and the kiosk's
contiguous mark walks past them; a claim over seqs it holds is kept as "refused".

Revision ID: 0016_lost_ranges
Revises: 0014_vouched_revocations
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_lost_ranges"
down_revision = "0015_slow_person_hashes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "office_lost_range",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kiosk_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("held", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_office_lost_range_kiosk_epoch", "office_lost_range", ["kiosk_id", "epoch", "first_seq"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_office_lost_range_kiosk_epoch", table_name="office_lost_range")
    op.drop_table("office_lost_range")
