"""last_passages: each pass's last allowed passage per checkpoint, for who is inside

The day report says who is still inside after the visiting hours and which households have someone
out after the curfew (sync/office/inside.py). It read every passage of the two days before and kept
each pass's last one: at city scale a window sort over millions of rows and a JSON read of each
pass's last payload, most of a minute. From this revision the ingest keeps each pass's (and each
registration's: its sign-out) last allowed passage in office_last_passage, in the transaction that
stores the batch, replaced only by a passage the kiosk wrote later (hlc, seq, record id); the
report reads these rows of its checkpoints in the window, by the index (kiosk_id, corrected_time).

The table is filled here from the records stored before, the same way: per kiosk and ref, the
allowed passage with the highest (hlc, seq, record_id). On PostgreSQL office_record is partitioned
by day (0023): the one statement reads every partition. A purge that drops a day's partition drops
that day's rows here too; SQLite's purge keeps the records (their payloads cleared), so the rows stay.

Revision ID: 0028_last_passages
Revises: 0027_pass_kind_withdrawn_alerts
"""

import sqlalchemy as sa
from alembic import op

revision = "0028_last_passages"
down_revision = "0027_pass_kind_withdrawn_alerts"
branch_labels = None
depends_on = None

COLUMNS = "kiosk_id, ref, hlc, seq, record_id, corrected_time, day, direction, unit, pass_kind"


def upgrade() -> None:
    op.create_table(
        "office_last_passage",
        sa.Column("kiosk_id", sa.String(36), nullable=False),
        sa.Column("ref", sa.String(36), nullable=False),
        sa.Column("hlc", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("corrected_time", sa.Float(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("direction", sa.String(3)),
        sa.Column("unit", sa.String(32)),
        sa.Column("pass_kind", sa.Integer()),
        sa.PrimaryKeyConstraint("kiosk_id", "ref"),
    )
    op.execute(
        f"INSERT INTO office_last_passage ({COLUMNS}) SELECT {COLUMNS} FROM ("
        f" SELECT {COLUMNS}, row_number() OVER"
        " (PARTITION BY kiosk_id, ref ORDER BY hlc DESC, seq DESC, record_id DESC) AS n"
        " FROM office_record WHERE kind = 'passage' AND ref IS NOT NULL AND verdict = 'allow') last WHERE n = 1"
    )
    op.create_index("ix_office_last_passage_kiosk_time", "office_last_passage", ["kiosk_id", "corrected_time"])
    op.create_index("ix_office_last_passage_day", "office_last_passage", ["day"])


def downgrade() -> None:
    op.drop_index("ix_office_last_passage_day", table_name="office_last_passage")
    op.drop_index("ix_office_last_passage_kiosk_time", table_name="office_last_passage")
    op.drop_table("office_last_passage")
