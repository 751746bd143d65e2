"""signout: registrations are inside until signed out

A registration says which way the person went (`registration.direction`: "in" for every
registration before this revision, as the desk registered people coming in), and a passage can
name the registration it signs out (`passage.registration_id`): the visitor who leaves without a
pass is picked from the desk's list of visitors inside and their exit recorded against it.

Revision ID: 0008_signout
Revises: 0007_outbox_lost
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_signout"
down_revision = "0007_outbox_lost"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registration") as batch:
        batch.add_column(sa.Column("direction", sa.String(length=3), nullable=False, server_default="in"))
    with op.batch_alter_table("passage") as batch:
        batch.add_column(sa.Column("registration_id", sa.String(length=36), nullable=True))
        batch.create_index("ix_passage_registration_id", ["registration_id"])


def downgrade() -> None:
    with op.batch_alter_table("passage") as batch:
        batch.drop_index("ix_passage_registration_id")
        batch.drop_column("registration_id")
    with op.batch_alter_table("registration") as batch:
        batch.drop_column("direction")
