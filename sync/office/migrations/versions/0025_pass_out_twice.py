"""pass_out_twice: one pass's passages at every gate, found by the pass

The "same pass out twice" alert (sync/office/alerts.py) asks, for each pass going out in a batch,
what that pass did just before and just after at any gate of the street. A partial index on the
allowed passages naming a pass (`ref`), in time order, answers each with one seek, however many
passages the day or the pass has.

Revision ID: 0025_pass_out_twice
Revises: 0024_records_pages
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_pass_out_twice"
down_revision = "0024_records_pages"
branch_labels = None
depends_on = None

WHERE = "kind = 'passage' AND ref IS NOT NULL AND verdict = 'allow'"


def upgrade() -> None:
    op.create_index(
        "ix_office_record_pass_ref",
        "office_record",
        ["ref", "corrected_time", "record_id"],
        postgresql_where=sa.text(WHERE),
        sqlite_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_office_record_pass_ref", table_name="office_record")
