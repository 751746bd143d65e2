"""Office security: administrators (token hashes), the office audit trail, office settings.

Written for both SQLite and PostgreSQL (no dialect-specific types).

Revision ID: 0002_office_security
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_office_security"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "office_admin",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("removed_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "office_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("admin", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("outcome", sa.String(length=16), server_default="ok", nullable=False),
        sa.Column("via", sa.String(length=8), server_default="cli", nullable=False),
        sa.Column("detail", sa.Text(), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_office_audit_at", "office_audit", ["at"], unique=False)
    op.create_table(
        "office_setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("office_setting")
    op.drop_index("ix_office_audit_at", table_name="office_audit")
    op.drop_table("office_audit")
    op.drop_table("office_admin")
