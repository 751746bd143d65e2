"""passage.checks: the checks beside the pass the volunteer answered (健康码, 核酸, 行程卡)

A JSON object {"health_code": "green", "nucleic_test": "48h"} (models/health_checks.py), empty
when the policy required none; the day report and the handover count what was seen from it.

Revision ID: 0009_passage_checks
Revises: 0007_outbox_lost
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_passage_checks"
down_revision = "0008_signout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("passage") as batch:
        batch.add_column(sa.Column("checks", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("passage") as batch:
        batch.drop_column("checks")
