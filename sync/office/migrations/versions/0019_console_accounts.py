"""The console's accounts and sessions (sync/office/users.py): office_user, office_session.

Revision ID: 0019_console_accounts
Revises: 0014_vouched_revocations
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_console_accounts"
down_revision = "0016_lost_ranges"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "office_user",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("community", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("password_at", sa.Float(), nullable=False),
        sa.Column("disabled_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "office_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_office_session_user_name", "office_session", ["user_name"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_office_session_user_name", table_name="office_session")
    op.drop_table("office_session")
    op.drop_table("office_user")
