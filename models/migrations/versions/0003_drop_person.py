"""drop the never-written `person` table and `registration.person_id`, its only link

No code ever wrote a `person` row: registrations keep their own masked numbers and hashes, and
the office's lists are keyed by hash (`list_entry`). `registration.person_id` was always NULL.
The retention purge's `DELETE FROM person` goes with the table.

SQLite cannot drop a column that a foreign key names, so the batch rebuilds `registration`
(copies its rows into a new table inside the migration's transaction: a power cut leaves the
file at 0002 with every row).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The foreign key was made without a name; naming_convention lets the batch find it by
    # the name it reflects for it, so the rebuilt table has neither the key nor the column.
    with op.batch_alter_table(
        "registration",
        recreate="always",
        naming_convention={"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"},
    ) as batch_op:
        batch_op.drop_constraint("fk_registration_person_id_person", type_="foreignkey")
        batch_op.drop_column("person_id")

    op.drop_index("ix_person_unit_code", table_name="person")
    op.drop_index("ix_person_phone_hash", table_name="person")
    op.drop_index("ix_person_id_hash", table_name="person")
    op.drop_table("person")


def downgrade() -> None:
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_code", AutoString(), nullable=True),
        sa.Column("name", AutoString(), nullable=False),
        sa.Column("id_masked", AutoString(), nullable=False),
        sa.Column("id_hash", AutoString(), nullable=True),
        sa.Column("id_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("phone_masked", AutoString(), nullable=False),
        sa.Column("phone_hash", AutoString(), nullable=True),
        sa.Column("phone_sealed", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["unit_code"], ["unit.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_person_id_hash", "person", ["id_hash"], unique=False)
    op.create_index("ix_person_phone_hash", "person", ["phone_hash"], unique=False)
    op.create_index("ix_person_unit_code", "person", ["unit_code"], unique=False)
    with op.batch_alter_table("registration", recreate="always") as batch_op:
        batch_op.add_column(sa.Column("person_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_registration_person_id_person", "person", ["person_id"], ["id"])
