"""Day counts: the day report's numbers kept up to date as records arrive.

The day report used to GROUP BY over every record of the day (2 million rows for 1,000
checkpoints x 2,000 passages: 1-4 s on PostgreSQL, most of it reading and sorting the rows).
`office_day_count` holds the same groups already counted, so the report reads a few thousand
rows. The ingest adds each batch's counts in the transaction that stores it
(`sync.office.ingest.count_days`); this migration counts what an office already held.
Triggers were tried first: they kept the counts for every writer, but cost 15-25 % of the
ingest (a transition table copies every full row; SQLite fires per row), so the one writer
of records counts instead, and `sync.office.report.recount_days` rebuilds the counts after
any change made by hand.

Grouping values are stored as '' instead of NULL (they are part of the primary key), and
`reasons` is cut to 256 characters so a poison payload can never make the key too long and
block a batch.

First released as a branch from 0001 beside 0002_office_security; the history is one line now,
with this revision after 0002. Offices upgraded before hold both in their version table, which
`sync.office.db.upgrade` folds into this one before it upgrades.

Revision ID: 0009_office_day_counts
Revises: 0002_office_security
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_office_day_counts"
down_revision = "0002_office_security"
branch_labels = None
depends_on = None

KEY = "day, kiosk_id, kind, direction, verdict, reasons, detail"
REASONS_KEY_CHARS = 256


def _grouped(source: str) -> str:
    """The grouping columns of `source` (office_record or a transition table) as key values."""
    return (
        f"SELECT day, kiosk_id, kind, coalesce(direction, '') AS direction, coalesce(verdict, '') AS verdict,"
        f" substr(coalesce(reasons, ''), 1, {REASONS_KEY_CHARS}) AS reasons, coalesce(detail, '') AS detail,"
        f" count(*) AS n FROM {source} GROUP BY 1, 2, 3, 4, 5, 6, 7"
    )


def upgrade() -> None:
    op.create_table(
        "office_day_count",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("kiosk_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False, server_default=""),
        sa.Column("verdict", sa.String(length=8), nullable=False, server_default=""),
        sa.Column("reasons", sa.String(length=REASONS_KEY_CHARS), nullable=False, server_default=""),
        sa.Column("detail", sa.String(length=32), nullable=False, server_default=""),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "kiosk_id", "kind", "direction", "verdict", "reasons", "detail"),
    )
    # What an existing office already holds, counted once.
    op.execute(f"INSERT INTO office_day_count ({KEY}, n) {_grouped('office_record')}")


def downgrade() -> None:
    op.drop_table("office_day_count")
