"""Replays: the last request stamp the office took from each kiosk (sync/office/replay.py).

(Its id was given before binding's 0011 and silence's 0014 were merged; it follows them.)

NULL for every kiosk already enrolled: a kiosk's first stamped request is taken whatever its
stamp, and from then on only higher ones.

Revision ID: 0013_request_replay
Revises: 0012_enrol_tries
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_request_replay"
down_revision = "0012_enrol_tries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("office_kiosk") as batch:
        batch.add_column(sa.Column("last_stamp", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("office_kiosk") as batch:
        batch.drop_column("last_stamp")
