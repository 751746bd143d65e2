"""Day counts: the day report's numbers kept up to date as records arrive.

The day report used to GROUP BY over every record of the day (2 million rows for 1,000
checkpoints x 2,000 passages: about 3 s on PostgreSQL, most of it reading and sorting the
rows). `office_day_count` holds the same groups already counted, so the report reads a few
thousand rows. Triggers on `office_record` keep it exact for every writer (the ingest's COPY
or INSERT, a restore, a clerk's manual fix): on PostgreSQL one statement-level trigger per
statement (the rows of a whole batch grouped in one INSERT ... ON CONFLICT), on SQLite a
row-level trigger (it has no other kind; a small office's batches are small).

Grouping values are stored as '' instead of NULL (they are part of the primary key), and
`reasons` is cut to 256 characters so a poison payload can never make the key too long and
block a batch.

A branch from 0001 (not after another engineer's newer revisions), so it never fights over the
head; `sync.office.db.upgrade` upgrades to every head.

Revision ID: 0009_office_day_counts
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0009_office_day_counts"
down_revision = "0001"
branch_labels = ("day_counts",)
depends_on = None

KEY = "day, kiosk_id, kind, direction, verdict, reasons, detail"
REASONS_KEY_CHARS = 256


def _grouped(source: str) -> str:
    """The grouping columns of `source` (office_record or a transition table) as key values."""
    return (f"SELECT day, kiosk_id, kind, coalesce(direction, '') AS direction, coalesce(verdict, '') AS verdict,"
            f" substr(coalesce(reasons, ''), 1, {REASONS_KEY_CHARS}) AS reasons, coalesce(detail, '') AS detail,"
            f" count(*) AS n FROM {source} GROUP BY 1, 2, 3, 4, 5, 6, 7")


def _row_key(ref: str) -> str:
    return (f"{ref}.day, {ref}.kiosk_id, {ref}.kind, coalesce({ref}.direction, ''), coalesce({ref}.verdict, ''),"
            f" substr(coalesce({ref}.reasons, ''), 1, {REASONS_KEY_CHARS}), coalesce({ref}.detail, '')")


def _match(ref: str) -> str:
    return (f"day = {ref}.day AND kiosk_id = {ref}.kiosk_id AND kind = {ref}.kind"
            f" AND direction = coalesce({ref}.direction, '') AND verdict = coalesce({ref}.verdict, '')"
            f" AND reasons = substr(coalesce({ref}.reasons, ''), 1, {REASONS_KEY_CHARS})"
            f" AND detail = coalesce({ref}.detail, '')")


PG_FUNCTIONS = {
    # Sorted, so two transactions that touch the same counters lock them in the same order.
    "office_day_count_add": f"""
        INSERT INTO office_day_count AS c ({KEY}, n)
        SELECT * FROM ({_grouped('new_rows')}) g ORDER BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT ({KEY}) DO UPDATE SET n = c.n + excluded.n;""",
    "office_day_count_remove": f"""
        UPDATE office_day_count AS c SET n = c.n - g.n
        FROM ({_grouped('old_rows')}) g
        WHERE c.day = g.day AND c.kiosk_id = g.kiosk_id AND c.kind = g.kind AND c.direction = g.direction
          AND c.verdict = g.verdict AND c.reasons = g.reasons AND c.detail = g.detail;""",
    "office_day_count_clear": "DELETE FROM office_day_count;",
}
PG_TRIGGERS = [
    ("office_record_count_insert", "AFTER INSERT", "REFERENCING NEW TABLE AS new_rows", "office_day_count_add"),
    ("office_record_count_delete", "AFTER DELETE", "REFERENCING OLD TABLE AS old_rows", "office_day_count_remove"),
    # An update moves a record between groups: out of the old one, into the new one.
    ("office_record_count_update_old", "AFTER UPDATE", "REFERENCING OLD TABLE AS old_rows", "office_day_count_remove"),
    ("office_record_count_update_new", "AFTER UPDATE", "REFERENCING NEW TABLE AS new_rows", "office_day_count_add"),
    ("office_record_count_truncate", "AFTER TRUNCATE", "", "office_day_count_clear"),
]

SQLITE_UPSERT = (f"INSERT INTO office_day_count ({KEY}, n) VALUES ({_row_key('NEW')}, 1)"
                 f" ON CONFLICT ({KEY}) DO UPDATE SET n = n + 1;")
SQLITE_DECREMENT = f"UPDATE office_day_count SET n = n - 1 WHERE {_match('OLD')};"
SQLITE_TRIGGERS = {
    "office_record_count_insert": f"AFTER INSERT ON office_record BEGIN {SQLITE_UPSERT} END",
    "office_record_count_delete": f"AFTER DELETE ON office_record BEGIN {SQLITE_DECREMENT} END",
    "office_record_count_update": ("AFTER UPDATE OF day, kiosk_id, kind, direction, verdict, reasons, detail"
                                   f" ON office_record BEGIN {SQLITE_DECREMENT} {SQLITE_UPSERT} END"),
}


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
    if op.get_bind().dialect.name == "postgresql":
        for name, body in PG_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$")
        for name, event, referencing, function in PG_TRIGGERS:
            op.execute(f"CREATE TRIGGER {name} {event} ON office_record {referencing} FOR EACH STATEMENT"
                       f" EXECUTE FUNCTION {function}()")
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _event, _referencing, _function in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON office_record")
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("office_day_count")
