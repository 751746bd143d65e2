"""passage index on (unit_code, direction, device_time) for the outing quota

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_passage_unit_dir_time", "passage", ["unit_code", "direction", "device_time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_passage_unit_dir_time", table_name="passage")
