"""where_people_are: the records that say who is inside, found without reading the whole day

The day report names, per checkpoint, who is still inside after the visiting hours and who is out
after the curfew (sync/office/inside.py). It reads each kiosk's registrations and the passages
that name a pass or a registration (`ref`, filled at ingest from this revision on): a partial
index holds just those rows, so a day of millions of passages without a pass is not read.

Revision ID: 0022_where_people_are
Revises: 0016_lost_ranges
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_where_people_are"
down_revision = "0020_office_alerts"
branch_labels = None
depends_on = None

WHERE = "kind = 'registration' OR (kind = 'passage' AND ref IS NOT NULL)"


def upgrade() -> None:
    op.create_index(
        "ix_office_record_people",
        "office_record",
        ["kiosk_id", "corrected_time"],
        postgresql_where=sa.text(WHERE),
        sqlite_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_office_record_people", table_name="office_record")
