"""Records partitioned by day on PostgreSQL (migration 0023, sync/office/partitions.py).

What an office relies on: an office of the release before keeps every record, each in its day's
partition; a push lands in its day's partition, or in the default one when its day has none (a
kiosk's clock weeks off), and nothing is lost; a retry stores nothing twice, even when its
corrected time falls on another day, and a record id another kiosk already used is a conflict
whatever its day; the purge drops exactly the days wholly past retention, keeps the others and
the counts, and a retry of a dropped record is still a duplicate. All on PostgreSQL only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid

import pytest
from nacl.signing import SigningKey
from sqlalchemy import text

from sync.office import ingest, partitions, sealed
from sync.office import lists as office_lists
from sync.office.db import open_office_engine
from sync.office.enrol import add_checkpoint, enrol
from sync.schemas import PushBatch
from tests.conftest import office_at_revision
from tests.postgres import postgres_url
from tests.sync.helpers import PgSchema

pytestmark = pytest.mark.postgres
DAY_S = 86400.0
NS = 1_000_000_000


@pytest.fixture
def pg_engine(tmp_path):
    schema = PgSchema(postgres_url())
    engine = open_office_engine(tmp_path / "office", schema.url)
    with engine.begin() as conn:
        office_lists.ensure_lists(conn)
    yield engine
    partitions.wait_for_drops(timeout=60)  # a purge's drop, still running, before the schema goes
    engine.dispose()
    schema.drop()


def kiosk(engine, name: str = "卡口1") -> str:
    info = add_checkpoint(engine, name, "幸福里社区")
    enrol(engine, info["code"], bytes(SigningKey.generate().verify_key).hex())
    return info["kiosk_id"]


def item(seq: int, *, when: float, record_id: str | None = None, payload: dict | None = None) -> dict:
    text_ = json.dumps(payload or {"direction": "in", "verdict": "allow", "reasons": "[]", "n": seq}, sort_keys=True)
    return {
        "record_id": record_id or str(uuid.uuid4()),
        "seq": seq,
        "kind": "passage",
        "payload": text_,
        "payload_hash": hashlib.sha256(text_.encode()).hexdigest(),
        "wall_time": when,
        "hlc": seq,
        "boot_id": "boot-1",
        "mono_ns": seq * NS,
        "clock_flag": "",
        "versions": "{}",
    }


def push(engine, kiosk_id: str, items: list[dict], *, ago_s: float = 0.0, epoch: int = 1) -> list[str]:
    """One batch through the ingest; the anchor puts the records `ago_s` before now (anchored time)."""
    last_mono = max(i["mono_ns"] for i in items)
    batch = PushBatch(
        batch_id=uuid.uuid4().hex,
        epoch=epoch,
        anchor={"boot_id": "boot-1", "mono_ns": last_mono + int(ago_s * NS), "wall": time.time()},
        records=items,
    )
    return ingest.ingest(engine, kiosk_id, batch)["statuses"]


def where_rows_are(engine) -> dict[str, str]:
    """record id -> the partition holding it."""
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT record_id, tableoid::regclass::text FROM office_record")).all())


def counted(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT day, sum(n)::int FROM office_day_count GROUP BY day")).all())


def local_day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(ts))


def test_the_migration_keeps_every_row_in_its_days_partition(tmp_path):
    schema = PgSchema(postgres_url())
    try:
        engine = office_at_revision(tmp_path / "office", schema.url, "0022_where_people_are")
        today = dt.date.today()
        days = [(today - dt.timedelta(days=n)).isoformat() for n in (0, 3, 400)]
        with engine.begin() as conn:
            for i, day in enumerate(days * 2):
                conn.execute(
                    text(
                        "INSERT INTO office_record (record_id, kiosk_id, epoch, seq, kind, payload, payload_hash,"
                        " device_time, corrected_time, received_at, time_quality, day, hlc, boot_id, mono_ns,"
                        " clock_flag, versions, flags, direction, verdict, reasons, detail, ref)"
                        " VALUES (:r, 'k1', 1, :s, 'passage', :p, 'h', 1.5, 2.5, 3.5, 'device', :d, :s, 'b', :s,"
                        " '', '{}', '', 'in', 'allow', '[]', NULL, 'ref')"
                    ),
                    {"r": f"r{i}", "s": i + 1, "p": json.dumps({"name": "李四", "i": i}, ensure_ascii=False), "d": day},
                )
            before = sorted(tuple(r) for r in conn.execute(text("SELECT * FROM office_record")).all())
        engine.dispose()
        engine = open_office_engine(tmp_path / "office", schema.url)
        with engine.connect() as conn:
            assert partitions.is_partitioned(conn)
            after = sorted(tuple(r) for r in conn.execute(text("SELECT * FROM office_record")).all())
            held = partitions.day_partitions(conn)
        width = len(before[0])  # the columns a later migration adds (0024's unit) come after, empty
        assert [row[:width] for row in after] == before  # every row, every column, exactly
        assert all(value is None for row in after for value in row[width:])
        assert set(partitions.days_ahead(today)) | set(days) <= set(held)
        for i, day in enumerate(days * 2):
            assert where_rows_are(engine)[f"r{i}"] == partitions.partition_name(day)
        # The keys still hold: the same slot once more is refused by the table itself.
        with pytest.raises(Exception, match=r"Key \(kiosk_id, epoch, seq, day\)"), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO office_record SELECT 'other', kiosk_id, epoch, seq, kind, payload, payload_hash,"
                    " device_time, corrected_time, received_at, time_quality, day, hlc, boot_id, mono_ns, clock_flag,"
                    " versions, flags, direction, verdict, reasons, detail, ref FROM office_record WHERE record_id = 'r0'"
                )
            )
        engine.dispose()
    finally:
        schema.drop()


def test_a_push_lands_in_its_days_partition_and_a_day_without_one_is_kept(pg_engine):
    k = kiosk(pg_engine)
    now = time.time()
    today_items = [item(s, when=now) for s in (1, 2)]
    assert push(pg_engine, k, today_items) == ["stored", "stored"]
    # A kiosk whose records are dated 40 days back (no partition is made that far back).
    old_items = [item(s, when=now - 40 * DAY_S) for s in (3, 4)]
    assert push(pg_engine, k, old_items, ago_s=40 * DAY_S) == ["stored", "stored"]
    rows = where_rows_are(pg_engine)
    assert {rows[i["record_id"]] for i in today_items} == {partitions.partition_name(local_day(now))}
    assert {rows[i["record_id"]] for i in old_items} == {partitions.DEFAULT_PARTITION}
    old_day = local_day(now - 40 * DAY_S)
    assert partitions.held_in_default(pg_engine) == {old_day: 2}
    # The office makes that day's partition later (kept within retention): the rows move in, none lost.
    assert partitions.maintain(pg_engine, keep_from=local_day(now - 60 * DAY_S)) == [old_day]
    rows = where_rows_are(pg_engine)
    assert {rows[i["record_id"]] for i in old_items} == {partitions.partition_name(old_day)}
    assert len(rows) == 4 and partitions.held_in_default(pg_engine) == {}
    assert counted(pg_engine) == {local_day(now): 2, old_day: 2}


def test_a_retry_on_another_day_stores_nothing_twice(pg_engine):
    k = kiosk(pg_engine)
    now = time.time()
    items = [item(s, when=now) for s in range(1, 6)]
    assert push(pg_engine, k, items) == ["stored"] * 5
    again = push(pg_engine, k, items)  # the same batch again (its answer was lost)
    # The boot re-anchored two days earlier: the same records now correct onto another day, whose
    # partition's keys know nothing of them.
    shifted = push(pg_engine, k, items, ago_s=2 * DAY_S)
    assert again == shifted == ["duplicate"] * 5
    assert len(where_rows_are(pg_engine)) == 5
    assert counted(pg_engine) == {local_day(now): 5}
    # One copy altered: a conflict, quarantined; a new record in a held slot: seq_taken.
    altered = dict(items[0], payload='{"x":1}', payload_hash=hashlib.sha256(b'{"x":1}').hexdigest())
    assert push(pg_engine, k, [altered, item(2, when=now)], ago_s=2 * DAY_S) == ["conflict", "seq_taken"]
    with pg_engine.connect() as conn:
        assert conn.execute(text("SELECT reason FROM office_conflict ORDER BY id")).scalars().all() == [
            "conflict",
            "seq_taken",
        ]
    assert len(where_rows_are(pg_engine)) == 5


def test_a_record_id_another_kiosk_used_is_a_conflict_on_the_next_day_too(pg_engine):
    a, b = kiosk(pg_engine, "卡口A"), kiosk(pg_engine, "卡口B")
    now = time.time()
    first = item(1, when=now)
    assert push(pg_engine, a, [first]) == ["stored"]
    forged = item(1, when=now, record_id=first["record_id"], payload={"direction": "out", "verdict": "deny"})
    # Corrected onto the day before: another partition, whose keys know nothing of the first.
    assert push(pg_engine, b, [forged], ago_s=DAY_S) == ["conflict"]
    # Two copies of one id in one batch, on two days: stored once.
    twin = str(uuid.uuid4())
    same = {"direction": "in", "verdict": "allow"}
    late = item(3, when=now, record_id=twin, payload=same)
    early = dict(item(2, when=now, record_id=twin, payload=same), mono_ns=3 * NS - int(2 * DAY_S * NS))  # 2 days back
    assert push(pg_engine, b, [early, late]) == ["stored", "duplicate"]
    assert sum(counted(pg_engine).values()) == 2  # a's record and the twin, once
    with pg_engine.connect() as conn:
        held = conn.execute(text("SELECT record_id, kiosk_id FROM office_record ORDER BY seq")).all()
    assert [tuple(r) for r in held] == [(first["record_id"], a), (twin, b)]


def test_the_purge_drops_exactly_the_days_past_retention(pg_engine):
    k = kiosk(pg_engine)
    now = time.time()
    ages = (50, 40, 30, 29, 27, 1, 0)  # days ago; 50 days back has no partition (the default holds it)
    old_days = [local_day(now - a * DAY_S) for a in ages]
    partitions.ensure_days(pg_engine, old_days[1:])
    by_age = {}
    seq = 0
    for age in ages:
        batch = []
        for _ in range(3):
            seq += 1
            batch.append(item(seq, when=now - age * DAY_S))
        assert push(pg_engine, k, batch, ago_s=age * DAY_S) == ["stored"] * 3
        by_age[age] = batch
    counts_before = counted(pg_engine)
    result = sealed.purge(pg_engine, older_than_days=28, now=now)
    first_kept = local_day(now - 28 * DAY_S)
    gone = sorted({d for d in old_days[1:] if d < first_kept})
    assert result.dropped_days == gone and result.dropped_records == 3 * len([a for a in ages if a > 28])
    with pg_engine.connect() as conn:
        held = partitions.day_partitions(conn)
    assert not set(gone) & set(held)
    assert {d for d in old_days if d >= first_kept} <= set(held)
    assert partitions.held_in_default(pg_engine) == {}
    rows = where_rows_are(pg_engine)
    for age, batch in by_age.items():
        assert all((i["record_id"] in rows) == (age <= 28) for i in batch), age
    assert counted(pg_engine) == counts_before  # the day report counts what it counted
    # The kiosk retries a dropped batch (its answer was lost a month ago): nothing comes back.
    assert push(pg_engine, k, by_age[40], ago_s=40 * DAY_S) == ["duplicate"] * 3
    assert push(pg_engine, k, by_age[40], ago_s=0) == ["duplicate"] * 3
    assert counted(pg_engine) == counts_before and len(where_rows_are(pg_engine)) == len(rows)
    with pg_engine.connect() as conn:
        detail = json.loads(conn.execute(text("SELECT detail FROM office_audit WHERE action = 'purge'")).scalar())
    assert detail["dropped_days"] == gone


def day_tables(engine) -> set[str]:
    """Every day table of the office's schema, attached or not."""
    with engine.connect() as conn:
        return set(
            conn.execute(
                text(
                    "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
                    " AND relkind = 'r' AND relname ~ '^office_record_d[0-9]{8}$'"
                )
            ).scalars()
        )


def purge_three_old_days(engine) -> tuple[dict, list[str], str]:
    """Three days past retention and one kept, 2 records each; purged. (counts before, days purged, kiosk)."""
    k = kiosk(engine)
    now = time.time()
    ages = (40, 35, 30, 1)
    partitions.ensure_days(engine, [local_day(now - a * DAY_S) for a in ages])
    seq = 0
    for age in ages:
        items = [item(seq + i, when=now - age * DAY_S) for i in (1, 2)]
        seq += 2
        assert push(engine, k, items, ago_s=age * DAY_S) == ["stored"] * 2
    counts = counted(engine)
    result = sealed.purge(engine, older_than_days=28, now=now)
    assert result.dropped_days == sorted(local_day(now - a * DAY_S) for a in ages[:3])
    return counts, result.dropped_days, k


def test_a_purged_days_rows_are_gone_when_the_purge_returns_and_its_files_soon_after(pg_engine, monkeypatch):
    later = []
    # The drop that follows the purge, held back: what a reader sees the moment the purge returns.
    monkeypatch.setattr(partitions, "drop_detached_later", later.append)
    counts, gone, _k = purge_three_old_days(pg_engine)
    assert later == [pg_engine]
    with pg_engine.connect() as conn:
        assert not set(gone) & set(partitions.day_partitions(conn))
        assert conn.execute(text("SELECT count(*) FROM office_record WHERE day = ANY(:d)"), {"d": gone}).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM office_record")).scalar() == 2  # the kept day's
    assert counted(pg_engine) == counts  # the day counts stay
    assert {partitions.partition_name(d) for d in gone} <= day_tables(pg_engine)  # detached, not dropped yet
    assert partitions.drop_detached(pg_engine) == sorted(partitions.partition_name(d) for d in gone)
    assert not {partitions.partition_name(d) for d in gone} & day_tables(pg_engine)
    assert counted(pg_engine) == counts


def test_the_purge_drops_the_detached_days_in_the_background(pg_engine):
    _counts, gone, _k = purge_three_old_days(pg_engine)
    partitions.wait_for_drops(timeout=60)
    assert not {partitions.partition_name(d) for d in gone} & day_tables(pg_engine)


def test_days_a_purge_detached_but_never_dropped_are_dropped_by_the_maintenance(pg_engine, monkeypatch):
    monkeypatch.setattr(partitions, "drop_detached_later", lambda engine: None)  # the office stopped first
    _counts, gone, _k = purge_three_old_days(pg_engine)
    assert {partitions.partition_name(d) for d in gone} <= day_tables(pg_engine)
    maintainer = partitions.Maintainer(pg_engine, every=3600)
    maintainer.start()
    try:
        for _ in range(200):
            if not {partitions.partition_name(d) for d in gone} & day_tables(pg_engine):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the maintenance left the detached days")
    finally:
        maintainer.stop()
    # Making a purged day's partition again (a day within retention once more: a changed setting) works.
    assert partitions.ensure_days(pg_engine, [gone[0]]) == [gone[0]]


def test_the_office_makes_the_days_ahead_when_it_starts(pg_engine, tmp_path):
    """A running office makes the coming days' partitions itself (at start, then hourly)."""
    from fastapi.testclient import TestClient

    from sync.office.app import create_app

    app = create_app(tmp_path / "office", engine=pg_engine)
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    with pg_engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {partitions.partition_name(tomorrow)}")
        assert tomorrow not in partitions.day_partitions(conn)
    held: dict[str, str] = {}
    with TestClient(app):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with pg_engine.connect() as conn:
                held = partitions.day_partitions(conn)
            if tomorrow in held:
                break
            time.sleep(0.05)
    assert set(partitions.days_ahead(dt.date.today())) <= set(held)


def test_the_purge_takes_the_last_passages_of_the_days_it_drops(pg_engine):
    """Who is inside reads each pass's last passage (office_last_passage): a pass last seen on a
    dropped day is forgotten with its records; one seen since keeps its newer passage."""
    k = kiosk(pg_engine)
    now = time.time()
    partitions.ensure_days(pg_engine, [local_day(now - a * DAY_S) for a in (40, 1)])

    def move(seq: int, pass_id: str, direction: str, age: float) -> dict:
        body = {"direction": direction, "verdict": "allow", "reasons": "[]", "pass_id": pass_id, "pass_kind": 1}
        return item(seq, when=now - age * DAY_S, payload=body)

    # One batch a day, each anchored at its own age: pass "gone" last moved 40 days ago, "kept" yesterday.
    assert (
        push(pg_engine, k, [move(1, "gone", "out", 40), move(2, "kept", "out", 40)], ago_s=40 * DAY_S) == ["stored"] * 2
    )
    assert push(pg_engine, k, [move(3, "kept", "in", 1)], ago_s=1 * DAY_S) == ["stored"]

    def last_passages() -> dict[str, tuple[str, str]]:
        with pg_engine.connect() as conn:
            return {
                ref: (d, day)
                for ref, d, day in conn.execute(text("SELECT ref, direction, day FROM office_last_passage"))
            }

    assert last_passages() == {"gone": ("out", local_day(now - 40 * DAY_S)), "kept": ("in", local_day(now - DAY_S))}
    result = sealed.purge(pg_engine, older_than_days=28, now=now)
    assert result.dropped_days == [local_day(now - 40 * DAY_S)]
    assert last_passages() == {"kept": ("in", local_day(now - DAY_S))}
