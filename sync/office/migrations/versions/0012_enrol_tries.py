"""Enrolment tries: near misses lock a code, an office-wide budget of wrong codes.

`office_enrol_code` gets the hashes of each code's two halves (codes made before this have
none: they expire within 72 hours and are simply not lockable by near misses), a count of near
misses and the time the code was locked; `office_throttle` holds budgets every worker process
shares (see sync/office/tries.py). Written for both SQLite and PostgreSQL.

Revision ID: 0012_enrol_tries
Revises: 0011_checkpoint_identity
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_enrol_tries"
down_revision = "0011_checkpoint_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("office_enrol_code", sa.Column("head_hash", sa.String(length=64), nullable=True))
    op.add_column("office_enrol_code", sa.Column("tail_hash", sa.String(length=64), nullable=True))
    op.add_column("office_enrol_code", sa.Column("wrong_tries", sa.Integer(), server_default="0", nullable=False))
    op.add_column("office_enrol_code", sa.Column("locked_at", sa.Float(), nullable=True))
    op.create_index("ix_office_enrol_code_head_hash", "office_enrol_code", ["head_hash"], unique=False)
    op.create_index("ix_office_enrol_code_tail_hash", "office_enrol_code", ["tail_hash"], unique=False)
    op.create_table(
        "office_throttle",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("window_start", sa.Float(), server_default="0", nullable=False),
        sa.Column("tries", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("office_throttle")
    op.drop_index("ix_office_enrol_code_tail_hash", table_name="office_enrol_code")
    op.drop_index("ix_office_enrol_code_head_hash", table_name="office_enrol_code")
    with op.batch_alter_table("office_enrol_code") as batch:
        batch.drop_column("locked_at")
        batch.drop_column("wrong_tries")
        batch.drop_column("tail_hash")
        batch.drop_column("head_hash")
