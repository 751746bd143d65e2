"""pass_kind_withdrawn_alerts: a passage's pass kind as a column; alerts the office withdraws

An alert that a record reaching the office later disproves (a pass "out twice" with an in between
that a late push brings; a fever "not rechecked in time" whose outcome, timed before the
deadline, arrives late) is withdrawn by the office (sync/office/alerts.py): `withdrawn_at`,
`withdrawn_by` ('office') and `withdrawn_why` (the words, zh and en, as JSON). A partial index
on withdrawn_at lets an open Alerts page ask for the withdrawals since it last looked.

Pass kind:

The Records page filters passages by the kind of pass shown (住户通行证, 车辆通行证, ...). The kind
was only in the payload; from this revision the ingest reads it out into `pass_kind` (the number
of models.kinds.PassKind), and a partial index (pass_kind, corrected_time, record_id) pages one
kind newest first by a short index range, as the unit filter's does (0024).

The rows stored before are filled here from their payloads, as the ingest reads them: a
passage's top-level "pass_kind" when it is an integer 0..255, else nothing. On PostgreSQL
(office_record partitioned by day since 0023) the column and the index are made on the parent,
which gives them to every partition; the payload is read with a pattern, not a cast to jsonb, so
a payload PostgreSQL's JSON refuses (NaN, which Python's reader took) leaves the row empty
instead of failing the upgrade. SQLite reads it with json_extract, guarded by json_valid.

Revision ID: 0027_pass_kind_withdrawn_alerts
Revises: 0026_unit_entries_by_community
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_pass_kind_withdrawn_alerts"
down_revision = "0026_unit_entries_by_community"
branch_labels = None
depends_on = None

WHERE = "pass_kind IS NOT NULL"
WITHDRAWN_WHERE = "withdrawn_at IS NOT NULL"
STORED = "kind = 'passage' AND flags NOT LIKE '%unreadable%'"


def upgrade() -> None:
    op.add_column("office_alert", sa.Column("withdrawn_at", sa.Float()))
    op.add_column("office_alert", sa.Column("withdrawn_by", sa.String(64)))
    op.add_column("office_alert", sa.Column("withdrawn_why", sa.Text()))
    op.create_index(
        "ix_office_alert_withdrawn_at",
        "office_alert",
        ["withdrawn_at"],
        postgresql_where=sa.text(WITHDRAWN_WHERE),
        sqlite_where=sa.text(WITHDRAWN_WHERE),
    )
    op.add_column("office_record", sa.Column("pass_kind", sa.Integer()))  # a plain ADD COLUMN: no table copy
    if op.get_bind().dialect.name == "postgresql":
        # The key at the payload's top level (the kiosk writes flat objects; "checks" is JSON
        # text inside a string, its quotes escaped, so no key in it matches), a number of at
        # most three digits and nothing after it but the next key or the end.
        op.execute(
            "UPDATE office_record SET pass_kind = m.n FROM ("
            " SELECT record_id, day, (regexp_match(payload, '\"pass_kind\"\\s*:\\s*([0-9]{1,3})\\s*[,}]'))[1]::int AS n"
            f" FROM office_record WHERE {STORED}) m"
            " WHERE office_record.record_id = m.record_id AND office_record.day = m.day AND m.n <= 255"
        )
    else:
        op.execute(
            "UPDATE office_record SET pass_kind = json_extract(payload, '$.pass_kind')"
            f" WHERE {STORED} AND json_valid(payload) AND json_type(payload, '$.pass_kind') = 'integer'"
            " AND json_extract(payload, '$.pass_kind') BETWEEN 0 AND 255"
        )
    op.create_index(
        "ix_office_record_pass_kind_time",
        "office_record",
        ["pass_kind", "corrected_time", "record_id"],
        postgresql_where=sa.text(WHERE),
        sqlite_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_office_record_pass_kind_time", table_name="office_record")
    with op.batch_alter_table("office_record") as batch:
        batch.drop_column("pass_kind")
    op.drop_index("ix_office_alert_withdrawn_at", table_name="office_alert")
    with op.batch_alter_table("office_alert") as batch:
        for column in ("withdrawn_why", "withdrawn_by", "withdrawn_at"):
            batch.drop_column(column)
