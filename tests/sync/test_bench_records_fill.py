"""The benchmarks' bulk filler of office records on PostgreSQL (tests/bench/fixtures.py).

The street- and city-scale figures of the README are only worth something if the filled table
is the table an office has: every record in its day's partition, and every index of
office_record present and valid on every partition (the filler drops them for the load and
builds them again), so the console's queries are planned as they would be in the field.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from sync.office.db import open_office_engine
from sync.office.enrol import add_checkpoint
from tests.bench.fixtures import day_starts, fill_records_pg
from tests.postgres import postgres_url
from tests.sync.helpers import PgSchema

pytestmark = pytest.mark.postgres

# Per index of office_record: the partitions that have an index attached to it.
ATTACHED = text(
    "SELECT parent.relname, x.indisvalid, count(child.relname) FROM pg_index x"
    " JOIN pg_class parent ON parent.oid = x.indexrelid"
    " LEFT JOIN pg_inherits ih ON ih.inhparent = parent.oid"
    " LEFT JOIN pg_class child ON child.oid = ih.inhrelid"
    " WHERE x.indrelid = 'office_record'::regclass GROUP BY parent.relname, x.indisvalid"
)


def test_filled_records_sit_in_their_day_partitions_with_every_index(tmp_path):
    schema = PgSchema(postgres_url())
    engine = open_office_engine(tmp_path / "office", schema.url)
    try:
        ids = [add_checkpoint(engine, f"卡口{i}", "社区00")["kiosk_id"] for i in range(3)]
        assert fill_records_pg(engine, ids, 5, 4, first_back=1) == 60
        _starts, days = day_starts(4, 1)
        with engine.connect() as conn:
            by_table = dict(
                conn.execute(text("SELECT tableoid::regclass::text, count(*) FROM office_record GROUP BY 1")).all()
            )
            partitions = conn.execute(
                text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'office_record'::regclass")
            ).scalar_one()
            indexes = conn.execute(ATTACHED).all()
        assert by_table == {f"office_record_d{d.replace('-', '')}": 15 for d in days}
        assert len(indexes) >= 4, indexes  # the primary key, the unique keys and the console's indexes
        for name, valid, attached in indexes:
            assert valid, f"{name} is not valid"
            assert attached == partitions, f"{name} is on {attached} of {partitions} partitions"
    finally:
        engine.dispose()
        schema.drop()
