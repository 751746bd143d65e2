"""Day counts: drop the counting triggers the first release of 0009 made, and count again there.

0009_office_day_counts first kept `office_day_count` with triggers on `office_record` (released
in 5a2b386); the next release counts in the ingest instead (`sync.office.ingest.count_days`) and
0009 no longer makes them, but nothing dropped them where they had been made. An office that
ran that first 0009 therefore counts every record twice, once by trigger and once by the ingest,
and its day report shows double. Autogenerate does not see triggers, so this is checked by hand:
where any of them exists it is dropped and the counts are rebuilt from the records (as 0009
counted them the first time); everywhere else this migration does nothing.

Revision ID: 0010_office_count_triggers
Revises: 0009_office_day_counts
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_office_count_triggers"
down_revision = "0009_office_day_counts"
branch_labels = None
depends_on = None

KEY = "day, kiosk_id, kind, direction, verdict, reasons, detail"
REASONS_KEY_CHARS = 256
SQLITE_TRIGGERS = ("office_record_count_insert", "office_record_count_delete", "office_record_count_update")
PG_TRIGGERS = (
    "office_record_count_insert",
    "office_record_count_delete",
    "office_record_count_update_old",
    "office_record_count_update_new",
    "office_record_count_truncate",
)
PG_FUNCTIONS = ("office_day_count_add", "office_day_count_remove", "office_day_count_clear")


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        found = bind.execute(
            sa.text(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'office_record'::regclass"
                f" AND tgname IN ({_names(PG_TRIGGERS)})"
            )
        ).scalar()
        if not found:
            return
        for name in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON office_record")
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        found = bind.execute(
            sa.text(
                f"SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN ({_names(SQLITE_TRIGGERS)})"
            )
        ).scalar()
        if not found:
            return
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DELETE FROM office_day_count")
    op.execute(
        f"INSERT INTO office_day_count ({KEY}, n)"
        " SELECT day, kiosk_id, kind, coalesce(direction, ''), coalesce(verdict, ''),"
        f" substr(coalesce(reasons, ''), 1, {REASONS_KEY_CHARS}), coalesce(detail, ''), count(*)"
        " FROM office_record GROUP BY 1, 2, 3, 4, 5, 6, 7"
    )


def downgrade() -> None:
    # Nothing to put back: with the ingest counting, the triggers would count every record twice.
    pass
