"""records_pages: the console's Records pages, paged by index at millions of records

The Records pages (sync/office/records.py) list one kind of record newest first, filtered by
gate, unit and day, a page at a time by (corrected_time, record_id) after the last row shown -
never an OFFSET, which reads every row before the page. These indexes answer each page with a
short index range: per kind, per gate and kind, per unit (the `unit` column, read out of the
payload at ingest from this revision on: records stored before it have none), and a fever
case's outcome by its case id.

Revision ID: 0024_records_pages
Revises: 0023_records_by_day
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_records_pages"
down_revision = "0023_records_by_day"
branch_labels = None
depends_on = None

UNIT_WHERE = "unit IS NOT NULL"
OUTCOME_WHERE = "kind = 'fever_outcome'"


def upgrade() -> None:
    op.add_column("office_record", sa.Column("unit", sa.String(32)))  # a plain ADD COLUMN: no table copy
    op.create_index("ix_office_record_kind_time", "office_record", ["kind", "corrected_time", "record_id"])
    op.create_index(
        "ix_office_record_kiosk_kind_time", "office_record", ["kiosk_id", "kind", "corrected_time", "record_id"]
    )
    op.create_index(
        "ix_office_record_unit_time",
        "office_record",
        ["unit", "corrected_time", "record_id"],
        postgresql_where=sa.text(UNIT_WHERE),
        sqlite_where=sa.text(UNIT_WHERE),
    )
    op.create_index(
        "ix_office_record_outcome",
        "office_record",
        ["ref"],
        postgresql_where=sa.text(OUTCOME_WHERE),
        sqlite_where=sa.text(OUTCOME_WHERE),
    )


def downgrade() -> None:
    for name in (
        "ix_office_record_outcome",
        "ix_office_record_unit_time",
        "ix_office_record_kiosk_kind_time",
        "ix_office_record_kind_time",
    ):
        op.drop_index(name, table_name="office_record")
    with op.batch_alter_table("office_record") as batch:
        batch.drop_column("unit")
