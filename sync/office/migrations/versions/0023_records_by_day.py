"""records_by_day: on PostgreSQL, office_record is partitioned by day (LIST on `day`)

A city's office keeps a month of a million records a day; purging a day past retention was a
million-row UPDATE, and would be a million-row DELETE. Partitioned, it drops one table. The table
is rebuilt with its rows: the old one is renamed, a partitioned one made in its place (same
columns, defaults, indexes), one partition per day the rows hold plus today and the week ahead
and a DEFAULT partition for anything else, the rows moved, the old table dropped.

A partitioned table's unique constraints must hold the partition key: the primary key becomes
(record_id, day) and uq_office_record_slot (kiosk_id, epoch, seq, day). The ingest checks a record
id and a slot across all days itself (sync/office/ingest.py), so a retry is still a duplicate.
The ingest keeps office_kiosk_epoch.max_seq, the highest seq stored per kiosk and epoch: a batch
wholly above it (nearly every batch) needs no look-up in every partition. SQLite: only that column.

Revision ID: 0023_records_by_day
Revises: 0022_where_people_are
"""

import datetime as dt
import re

import sqlalchemy as sa
from alembic import op

revision = "0023_records_by_day"
down_revision = "0022_where_people_are"
branch_labels = None
depends_on = None

WHERE = "kind = 'registration' OR (kind = 'passage' AND ref IS NOT NULL)"
AHEAD_DAYS = 7
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
COLUMNS = (
    "record_id, kiosk_id, epoch, seq, kind, payload, payload_hash, device_time, corrected_time, received_at,"
    " time_quality, day, hlc, boot_id, mono_ns, clock_flag, versions, flags, direction, verdict, reasons, detail, ref"
)


def _is_day(value: str) -> bool:
    if not DAY.match(value or ""):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _rename_old(suffix: str) -> None:
    op.execute(f"ALTER TABLE office_record RENAME TO office_record_{suffix}")
    op.execute(
        f"ALTER TABLE office_record_{suffix} RENAME CONSTRAINT office_record_pkey TO office_record_{suffix}_pkey"
    )
    op.execute(
        f"ALTER TABLE office_record_{suffix} RENAME CONSTRAINT uq_office_record_slot TO uq_office_record_slot_{suffix}"
    )
    op.execute(f"ALTER INDEX ix_office_record_day_kiosk RENAME TO ix_office_record_day_kiosk_{suffix}")
    op.execute(f"ALTER INDEX ix_office_record_people RENAME TO ix_office_record_people_{suffix}")


def _indexes() -> None:
    op.execute("CREATE INDEX ix_office_record_day_kiosk ON office_record (day, kiosk_id)")
    op.execute(f"CREATE INDEX ix_office_record_people ON office_record (kiosk_id, corrected_time) WHERE {WHERE}")


def _max_seq() -> None:
    """office_kiosk_epoch.max_seq: the highest seq stored per kiosk and epoch (the ingest keeps it)."""
    with op.batch_alter_table("office_kiosk_epoch") as batch:
        batch.add_column(sa.Column("max_seq", sa.BigInteger(), server_default="0", nullable=False))
    op.execute(
        "UPDATE office_kiosk_epoch SET max_seq = coalesce((SELECT max(r.seq) FROM office_record r"
        " WHERE r.kiosk_id = office_kiosk_epoch.kiosk_id AND r.epoch = office_kiosk_epoch.epoch), 0)"
    )


def upgrade() -> None:
    _max_seq()
    if op.get_bind().dialect.name != "postgresql":
        return
    bind = op.get_bind()
    _rename_old("unpartitioned")
    op.execute(
        "CREATE TABLE office_record (LIKE office_record_unpartitioned INCLUDING DEFAULTS) PARTITION BY LIST (day)"
    )
    op.execute("ALTER TABLE office_record ADD CONSTRAINT office_record_pkey PRIMARY KEY (record_id, day)")
    op.execute("ALTER TABLE office_record ADD CONSTRAINT uq_office_record_slot UNIQUE (kiosk_id, epoch, seq, day)")
    _indexes()
    op.execute("CREATE TABLE office_record_default PARTITION OF office_record DEFAULT")
    held = {d for (d,) in bind.exec_driver_sql("SELECT DISTINCT day FROM office_record_unpartitioned")}
    today = dt.date.today()
    ahead = {(today + dt.timedelta(days=i)).isoformat() for i in range(AHEAD_DAYS + 1)}
    for day in sorted(d for d in held | ahead if _is_day(d)):
        op.execute(
            f"CREATE TABLE office_record_d{day.replace('-', '')} PARTITION OF office_record FOR VALUES IN ('{day}')"
        )
    op.execute(f"INSERT INTO office_record ({COLUMNS}) SELECT {COLUMNS} FROM office_record_unpartitioned")
    op.execute("DROP TABLE office_record_unpartitioned")
    op.execute("ANALYZE office_record")


def downgrade() -> None:
    with op.batch_alter_table("office_kiosk_epoch") as batch:
        batch.drop_column("max_seq")
    if op.get_bind().dialect.name != "postgresql":
        return
    _rename_old("partitioned")
    op.execute("CREATE TABLE office_record (LIKE office_record_partitioned INCLUDING DEFAULTS)")
    op.execute("ALTER TABLE office_record ADD CONSTRAINT office_record_pkey PRIMARY KEY (record_id)")
    op.execute("ALTER TABLE office_record ADD CONSTRAINT uq_office_record_slot UNIQUE (kiosk_id, epoch, seq)")
    _indexes()
    # Across days a record id or slot can only be held once (the ingest sees to it): one row each.
    op.execute(
        f"INSERT INTO office_record ({COLUMNS}) SELECT {COLUMNS} FROM office_record_partitioned ON CONFLICT DO NOTHING"
    )
    op.execute("DROP TABLE office_record_partitioned CASCADE")
