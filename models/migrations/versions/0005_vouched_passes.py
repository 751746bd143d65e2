"""trusted_key.vouched: the pass ids a revoked kiosk's key still vouches for

Once the office revokes a kiosk, its trust item lists the passes the office saw it issue (and
sync) before the revocation; every other pass signed by that key is denied. The kiosk keeps the
list with the key, as sent (a JSON list of pass ids).

Revision ID: 0005_vouched_passes
Revises: 0004_pass_binding
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0005_vouched_passes"
down_revision = "0004_pass_binding"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trusted_key") as batch:
        batch.add_column(sa.Column("vouched", AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trusted_key") as batch:
        batch.drop_column("vouched")
