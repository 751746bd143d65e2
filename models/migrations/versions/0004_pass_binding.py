"""passes bound to their community: the community of each trusted key, and of this checkpoint

A kiosk key's passes open the gates of the community the office enrolled it in; the office's own
key signs street-wide passes. `trusted_key` gains the community (id and name) the office's trust
list gives each key, and `checkpoint` the community this kiosk was enrolled in. Both are NULL
until the office says (a kiosk that is not enrolled trusts its own key only, as before).

Revision ID: 0004_pass_binding
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0004_pass_binding"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("trusted_key", sa.Column("community_id", sa.Integer(), nullable=True))
    op.add_column("trusted_key", sa.Column("community", AutoString(), nullable=True))
    op.add_column("trusted_key", sa.Column("checkpoint", sa.Integer(), nullable=True))
    op.add_column("checkpoint", sa.Column("community_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checkpoint") as batch_op:
        batch_op.drop_column("community_id")
    with op.batch_alter_table("trusted_key") as batch_op:
        batch_op.drop_column("checkpoint")
        batch_op.drop_column("community")
        batch_op.drop_column("community_id")
