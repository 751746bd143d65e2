"""The tables the code declares and the tables the migrations build are the same, for the kiosk
(SQLModel.metadata, models/migrations) and for the office (sync.office.tables.metadata,
sync/office/migrations, on SQLite and PostgreSQL); each history is one line; databases left by
earlier releases upgrade onto it.

The comparison is Alembic's own autogenerate (`compare_metadata`) with types and server
defaults compared: whatever it would write into a new migration is a difference, and the test
fails on any.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, String, Table, inspect, text
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the kiosk's tables on SQLModel.metadata)
from models.engine import MIGRATIONS_DIR as KIOSK_MIGRATIONS
from models.engine import head_revision, open_engine
from sync.office import tables as office_tables
from sync.office.db import MIGRATIONS_DIR as OFFICE_MIGRATIONS
from sync.office.db import VERSION_TABLE, open_office_engine

# The office history as released before it was made linear (copies of its files, see env.py there).
RELEASED_OFFICE = Path(__file__).parent / "fixtures" / "office_migrations_released"
OLD_OFFICE_HEADS = {"0002_office_security", "0009_office_day_counts"}
OFFICE_HEAD = "0028_last_passages"


def _sqlite_same_string_default(
    context, inspected_column, metadata_column, inspected_default, metadata_default, rendered_metadata_default
):
    """A known false positive of Alembic's SQLite comparison, answered here and nowhere else.

    SQLAlchemy writes an empty string default as `DEFAULT ('')`; Alembic strips the parentheses
    and then unquotes with `'(.+)'`, which needs a character, so it compares `''` with "" and
    reports every empty-string default as changed. Here a string default counts as equal when
    what SQLite reflects is exactly its SQL literal (in parentheses or not); anything else goes
    on to Alembic's own comparison (None)."""
    if context.dialect.name != "sqlite" or inspected_default is None or metadata_default is None:
        return None
    arg = getattr(metadata_default, "arg", None)
    if not isinstance(arg, str):
        return None
    literal = "'" + arg.replace("'", "''") + "'"
    if inspected_default in (literal, f"({literal})"):
        return False
    return None


def record_partitions(conn) -> set[str]:
    """The partitions of office_record (PostgreSQL): made by the office at run time, one a day
    (sync/office/partitions.py), so not declared tables; their parent is compared instead."""
    if conn.dialect.name != "postgresql":
        return set()
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass('office_record')"
        )
    )
    return {r[0] for r in rows}


def schema_diff(conn, metadata: MetaData, version_table: str = "alembic_version") -> list:
    partitions = record_partitions(conn)

    def not_a_partition(name, type_, parent_names):
        return not (type_ == "table" and name in partitions)

    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "compare_server_default": _sqlite_same_string_default,
            "version_table": version_table,
            "include_name": not_a_partition,
        },
    )
    return compare_metadata(context, metadata)


def declared_office_tables(conn) -> MetaData:
    """What the office's migrations build on this database: office_record partitioned by day on PostgreSQL."""
    return office_tables.postgresql_metadata() if conn.dialect.name == "postgresql" else office_tables.metadata


def _config(location: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    return cfg


# -- one metadata: a fresh database is exactly the declared tables ---------------------------------


def test_a_fresh_kiosk_file_is_exactly_the_declared_tables(tmp_path):
    engine = open_engine(tmp_path / "k.db")
    try:
        with engine.connect() as conn:
            assert schema_diff(conn, SQLModel.metadata) == []
    finally:
        engine.dispose()


def test_a_fresh_office_database_is_exactly_the_declared_tables(tmp_path, office_url):
    engine = open_office_engine(tmp_path / "office", office_url)
    try:
        with engine.connect() as conn:
            assert schema_diff(conn, declared_office_tables(conn), VERSION_TABLE) == []
            # Every office table is declared in tables.py (nothing on a MetaData of its own).
            tables = set(inspect(conn).get_table_names()) - {VERSION_TABLE} - record_partitions(conn)
        assert tables == set(office_tables.metadata.tables)
    finally:
        engine.dispose()


def test_the_comparison_still_sees_a_changed_default_and_a_missing_table(tmp_path):
    """The SQLite allowance above covers equal empty strings only: a real difference stays one."""
    engine = open_office_engine(tmp_path / "office")
    changed = MetaData()
    for table in office_tables.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["office_record"].c.flags.server_default.arg = "none"
    Table("office_extra", changed, Column("k", String(8), primary_key=True))
    try:
        with engine.connect() as conn:
            diff = schema_diff(conn, changed, VERSION_TABLE)
    finally:
        engine.dispose()
    kinds = [d[0][0] if isinstance(d, list) else d[0] for d in diff]
    assert sorted(kinds) == ["add_table", "modify_default"], diff


# -- one linear history each ---------------------------------------------------------------------


@pytest.mark.parametrize("location", [KIOSK_MIGRATIONS, OFFICE_MIGRATIONS], ids=["kiosk", "office"])
def test_each_history_is_one_line(location):
    script = ScriptDirectory.from_config(_config(location))
    revisions = list(script.walk_revisions())
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
    for rev in revisions:
        # A tuple here is a merge; a second child of one revision is a branch; labels name branches.
        assert rev.down_revision is None or isinstance(rev.down_revision, str), rev.revision
        assert len(rev.nextrev) <= 1, (rev.revision, rev.nextrev)
        assert not rev.branch_labels, rev.revision
        assert len(rev.revision) <= 32, rev.revision  # the version tables' version_num is VARCHAR(32)
    assert len({r.revision for r in script.iterate_revisions("head", "base")}) == len(revisions)


def test_the_kiosk_head_the_fast_start_reads_is_alembics_head():
    """`open_engine` skips Alembic when the file is at `head_revision()` (read from file names)."""
    script = ScriptDirectory.from_config(_config(KIOSK_MIGRATIONS))
    assert head_revision() == script.get_current_head()
    for rev in script.walk_revisions():
        # The file's number is the revision's number (`0003`, `0004_pass_binding`): files sort in order.
        assert Path(rev.path).name.split("_", 1)[0] == rev.revision.split("_", 1)[0], rev.path


# -- databases from earlier releases ---------------------------------------------------------------


def _released_office_scripts(tmp_path: Path, release: str = "1b37ad1") -> Path:
    """The office's migration scripts as `release` shipped them: 0009 as first released with
    counting triggers (5a2b386) or as released after (1b37ad1); both branched from 0001."""
    target = tmp_path / f"office-scripts-{release}"
    shutil.copytree(RELEASED_OFFICE, target, ignore=shutil.ignore_patterns("0009_*", "__pycache__"))
    shutil.copy(
        RELEASED_OFFICE / f"0009_office_day_counts.{release}.py", target / "versions" / "0009_office_day_counts.py"
    )
    return target


def _upgrade_with(engine, scripts: Path, to: str) -> None:
    cfg = _config(scripts)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, to)


def _office_from_the_branched_release(tmp_path: Path, url: str | None):
    engine = open_office_engine(tmp_path / "office", url, migrate=False)
    _upgrade_with(engine, _released_office_scripts(tmp_path), "heads")
    day = dt.date.today().isoformat()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO office_record (record_id, kiosk_id, epoch, seq, kind, payload, payload_hash,"
                " device_time, corrected_time, received_at, time_quality, day, hlc, boot_id, mono_ns,"
                " clock_flag, versions, flags, direction, verdict, reasons)"
                " VALUES ('r1', 'k1', 1, 1, 'passage', '{}', 'h', 0, 0, 0, 'device', :d, 1, 'b', 1, '', '{}', '',"
                " 'in', 'allow', '[]')"
            ),
            {"d": day},
        )
        conn.execute(
            text(
                "INSERT INTO office_day_count (day, kiosk_id, kind, direction, verdict, reasons, detail, n)"
                " VALUES (:d, 'k1', 'passage', 'in', 'allow', '[]', '', 1)"
            ),
            {"d": day},
        )
        conn.execute(text("INSERT INTO office_admin (name, token_hash, created_at) VALUES ('王', 'th', 0)"))
    return engine


def _office_versions(engine) -> set[str]:
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))}


def test_an_office_at_the_two_old_heads_upgrades_onto_the_line(tmp_path, office_url):
    old = _office_from_the_branched_release(tmp_path, office_url)
    assert _office_versions(old) == OLD_OFFICE_HEADS  # as every office upgraded before was left
    old.dispose()

    engine = open_office_engine(tmp_path / "office", office_url)
    try:
        assert _office_versions(engine) == {OFFICE_HEAD}
        with engine.connect() as conn:
            assert schema_diff(conn, declared_office_tables(conn), VERSION_TABLE) == []
            assert conn.execute(text("SELECT count(*) FROM office_record")).scalar() == 1
            assert conn.execute(text("SELECT sum(n) FROM office_day_count")).scalar() == 1
            assert conn.execute(text("SELECT name FROM office_admin")).scalar() == "王"
    finally:
        engine.dispose()
    again = open_office_engine(tmp_path / "office", office_url)  # and stays there
    try:
        assert _office_versions(again) == {OFFICE_HEAD}
    finally:
        again.dispose()


def test_an_office_from_before_the_day_counts_gets_them(tmp_path, office_url):
    """An office last upgraded when 0002_office_security was the only head."""
    engine = open_office_engine(tmp_path / "office", office_url, migrate=False)
    _upgrade_with(engine, _released_office_scripts(tmp_path), "0002_office_security")
    engine.dispose()
    engine = open_office_engine(tmp_path / "office", office_url)
    try:
        assert _office_versions(engine) == {OFFICE_HEAD}
        with engine.connect() as conn:
            assert schema_diff(conn, declared_office_tables(conn), VERSION_TABLE) == []
    finally:
        engine.dispose()


def _store_a_record(engine, record_id: str, seq: int) -> None:
    """What the ingest does with one new record: the row, and its day count."""
    from sync.office.ingest import count_days

    row = {
        "record_id": record_id,
        "kiosk_id": "k1",
        "epoch": 1,
        "seq": seq,
        "kind": "passage",
        "payload": "{}",
        "payload_hash": "h",
        "device_time": 0.0,
        "corrected_time": 0.0,
        "received_at": 0.0,
        "time_quality": "device",
        "day": dt.date.today().isoformat(),
        "hlc": seq,
        "boot_id": "b",
        "mono_ns": seq,
        "clock_flag": "",
        "versions": "{}",
        "flags": "",
        "direction": "in",
        "verdict": "allow",
        "reasons": "[]",
        "detail": None,
        "ref": None,
    }
    with engine.begin() as conn:
        conn.execute(office_tables.record.insert(), [row])
        count_days(conn, [row])


def _counted(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(sum(n), 0) FROM office_day_count")).scalar())


def test_an_office_that_counted_by_trigger_counts_each_record_once(tmp_path, office_url):
    """An office that ran 0009 as first released (5a2b386) still has its counting triggers, and
    the ingest counts too: every record counted twice, the day report doubled."""
    engine = open_office_engine(tmp_path / "office", office_url, migrate=False)
    _upgrade_with(engine, _released_office_scripts(tmp_path, "5a2b386"), "heads")
    _store_a_record(engine, "r1", 1)
    assert _counted(engine) == 2  # the defect, as such an office has it
    engine.dispose()

    engine = open_office_engine(tmp_path / "office", office_url)
    try:
        assert _office_versions(engine) == {OFFICE_HEAD}
        assert _counted(engine) == 1  # rebuilt from the records
        _store_a_record(engine, "r2", 2)
        assert _counted(engine) == 2  # one record, one count
        with engine.connect() as conn:
            assert schema_diff(conn, declared_office_tables(conn), VERSION_TABLE) == []
    finally:
        engine.dispose()


def test_an_office_without_the_triggers_keeps_its_counts_untouched(tmp_path, office_url):
    """0010 rebuilds nothing where there was nothing to repair (a count fixed by hand stays)."""
    engine = _office_from_the_branched_release(tmp_path, office_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE office_day_count SET n = 7"))
    engine.dispose()
    engine = open_office_engine(tmp_path / "office", office_url)
    try:
        assert _counted(engine) == 7
    finally:
        engine.dispose()


def test_a_kiosk_file_with_registrations_loses_the_person_table_and_keeps_every_row(tmp_path):
    from models.facts import RegistrationInput, record_registration
    from models.store import KioskStore
    from models.values import parse_temperature

    store = KioskStore.open(tmp_path / "k")
    store.set_up("东门卡口", "幸福里社区")
    record_registration(
        store,
        RegistrationInput("visitor", name="李四", phone="13800138000", from_place="武汉", to_unit="3-2-501"),
        parse_temperature("365"),
    )
    store.engine.dispose()
    db = tmp_path / "k" / "kakou.db"
    cfg = _config(KIOSK_MIGRATIONS)
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    command.downgrade(cfg, "0002")  # the file as the release before this one left it
    engine = open_engine(db, migrate=False)
    with engine.connect() as conn:
        assert "person" in inspect(conn).get_table_names()
        before = conn.exec_driver_sql(
            "SELECT record_id, kind, name, phone_masked, phone_hash, from_place, to_unit, temp_raw, temp_value,"
            " device_time FROM registration"
        ).all()
    engine.dispose()
    assert len(before) == 1

    engine = open_engine(db)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head_revision()
            assert "person" not in inspect(conn).get_table_names()
            assert "person_id" not in {c["name"] for c in inspect(conn).get_columns("registration")}
            after = conn.exec_driver_sql(
                "SELECT record_id, kind, name, phone_masked, phone_hash, from_place, to_unit, temp_raw, temp_value,"
                " device_time FROM registration"
            ).all()
            assert after == before
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert schema_diff(conn, SQLModel.metadata) == []
    finally:
        engine.dispose()


# -- 0006 (kiosk) and 0015 (office): the slow look-up hashes ---------------------------------------

OLD_ID, OLD_PHONE = "11010519491231002X", "13812345678"


def _old_hmac(key: bytes, kind: str, value: str) -> str:
    import hashlib
    import hmac

    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def _payload_and_hash(conn, record_id: str) -> tuple[dict, str, str]:
    import json

    payload, digest = conn.exec_driver_sql(
        "SELECT payload, payload_hash FROM outbox WHERE record_id = ?", (record_id,)
    ).one()
    return json.loads(payload), payload, digest


def test_a_kiosk_file_at_0005_loses_its_fast_hashes_and_digits_and_keeps_what_is_unsent(tmp_path):
    """A 0005 file as the release before left it: 6+4 masks and HMACs on the rows, in the outbox
    payloads (one acknowledged by the office, one not) and an office person entry by HMAC."""
    import hashlib
    import json

    from models.facts import RegistrationInput, record_registration
    from models.outbox import damaged_records
    from models.store import KioskStore

    store = KioskStore.open(tmp_path / "k")
    store.set_up("东门卡口", "幸福里社区")
    key = store.lookup_key
    sent = record_registration(store, RegistrationInput("returnee", name="李四", id_number=OLD_ID, phone=OLD_PHONE))
    unsent = record_registration(store, RegistrationInput("visitor", name="王五", phone=OLD_PHONE))
    store.engine.dispose()
    db = tmp_path / "k" / "kakou.db"
    cfg = _config(KIOSK_MIGRATIONS)
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    command.downgrade(cfg, "0005_vouched_passes")
    engine = open_engine(db, migrate=False)
    old = {"id_masked": "110105********002X", "id_hash": _old_hmac(key, "id", OLD_ID)}
    old_phone = {"phone_masked": "138****5678", "phone_hash": _old_hmac(key, "phone", OLD_PHONE)}
    with engine.begin() as conn:
        for fact, fields in ((sent, {**old, **old_phone}), (unsent, old_phone)):
            sets = ", ".join(f"{k} = :{k}" for k in fields)
            conn.execute(text(f"UPDATE registration SET {sets} WHERE record_id = :r"), {**fields, "r": fact.record_id})
            body, _, _ = _payload_and_hash(conn, fact.record_id)
            body.update(fields)
            new = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            conn.execute(
                text("UPDATE outbox SET payload = :p, payload_hash = :h WHERE record_id = :r"),
                {"p": new, "h": hashlib.sha256(new.encode()).hexdigest(), "r": fact.record_id},
            )
        sent_seq = conn.execute(text("SELECT seq FROM outbox WHERE record_id = :r"), {"r": sent.record_id}).scalar()
        conn.execute(text("UPDATE kiosk_state SET acked_seq = :s"), {"s": sent_seq})
        conn.execute(
            text(
                "INSERT INTO list_entry (list_name, unit_code, person_hash, until, note, source)"
                " VALUES ('quarantine', NULL, :h, NULL, '密接', 'office'), ('quarantine', '3-2-501', NULL, NULL, '', 'office')"
            ),
            {"h": old["id_hash"]},
        )
        conn.execute(
            text(
                "INSERT INTO list_version (name, version, content_hash, updated_at) VALUES ('quarantine', 7, 'abc', 1)"
                " ON CONFLICT(name) DO UPDATE SET version = 7, content_hash = 'abc'"
            )
        )
        _, unsent_before, unsent_hash_before = _payload_and_hash(conn, unsent.record_id)
    engine.dispose()

    engine = open_engine(db)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head_revision()
            rows = conn.exec_driver_sql(
                "SELECT id_masked, id_hash, phone_masked, phone_hash FROM registration ORDER BY device_time"
            ).all()
            assert rows == [("*" * 18, None, "*" * 11, None), ("", None, "*" * 11, None)]
            # Acknowledged: the same treatment, its hash remade so the integrity check still holds.
            body, _, _ = _payload_and_hash(conn, sent.record_id)
            assert (body["id_masked"], body["phone_masked"], body["id_hash"], body["phone_hash"]) == (
                "*" * 18,
                "*" * 11,
                None,
                None,
            )
            assert body["name"] == "李四" and body["id_sealed"] and body["phone_sealed"]  # the sealed copies stay
            # Not acknowledged: exactly as made (the office may hold it already).
            _, unsent_after, unsent_hash_after = _payload_and_hash(conn, unsent.record_id)
            assert (unsent_after, unsent_hash_after) == (unsent_before, unsent_hash_before)
            assert damaged_records(conn) == []
            # The office's person entry by HMAC is gone, the unit stays, the list is fetched afresh.
            assert conn.exec_driver_sql("SELECT unit_code, person_hash FROM list_entry").all() == [("3-2-501", None)]
            assert conn.exec_driver_sql("SELECT version FROM list_version WHERE name = 'quarantine'").scalar() == 0
            assert schema_diff(conn, SQLModel.metadata) == []
    finally:
        engine.dispose()


def test_an_office_at_0014_strengthens_its_person_entries_in_place(tmp_path, office_url):
    import json

    from models.privacy import LookupCost, lookup_hash
    from sync.office.keys import load_lookup_key

    engine = open_office_engine(tmp_path / "office", office_url, migrate=False)
    _upgrade_with(engine, OFFICE_MIGRATIONS, "0014_vouched_revocations")
    key = load_lookup_key(tmp_path / "office")
    hashed = _old_hmac(key, "id", OLD_ID)
    gone = _old_hmac(key, "id", "440524188001010014")
    with engine.begin() as conn:
        for name, version in (("quarantine", 4), ("watch", 2)):
            conn.execute(
                text("INSERT INTO office_list (name, version, updated_at) VALUES (:n, :v, 0)"),
                {"n": name, "v": version},
            )
        items = [
            (
                "person:" + hashed,
                {"person_hash": hashed, "masked_id": "110105********002X", "until": None, "note": "密接"},
                3,
                False,
            ),
            (
                "person:" + gone,
                {"person_hash": gone, "masked_id": "440524********0014", "until": None, "note": ""},
                4,
                True,
            ),
            ("unit:3-2-501", {"unit": "3-2-501", "until": None, "note": ""}, 2, False),
        ]
        for item_key, value, version, deleted in items:
            conn.execute(
                text(
                    "INSERT INTO office_list_item (list_name, item_key, value, version, deleted)"
                    " VALUES ('quarantine', :k, :v, :ver, :d)"
                ),
                {"k": item_key, "v": json.dumps(value, ensure_ascii=False), "ver": version, "d": deleted},
            )
    engine.dispose()

    engine = open_office_engine(tmp_path / "office", office_url)
    try:
        with engine.connect() as conn:
            assert _office_versions(engine) == {OFFICE_HEAD}
            rows = {
                k: (json.loads(v), ver, bool(d))
                for k, v, ver, d in conn.execute(
                    text(
                        "SELECT item_key, value, version, deleted FROM office_list_item WHERE list_name = 'quarantine'"
                    )
                )
            }
            versions = dict(conn.execute(text("SELECT name, version FROM office_list")).all())
            conn.rollback()
        strong = lookup_hash(key, "id", OLD_ID, LookupCost(2, 16 * 1024))  # what a kiosk computes from the scan
        strong_gone = lookup_hash(key, "id", "440524188001010014", LookupCost(2, 16 * 1024))
        assert versions == {"quarantine": 5, "watch": 2}  # only the list that changed
        assert rows == {
            "person:" + strong: ({"person_hash": strong, "until": None, "note": "密接"}, 5, False),
            "person:" + strong_gone: ({"person_hash": strong_gone, "until": None, "note": ""}, 5, True),
            "unit:3-2-501": ({"unit": "3-2-501", "until": None, "note": ""}, 2, False),
        }
        with engine.connect() as conn:
            assert schema_diff(conn, declared_office_tables(conn), VERSION_TABLE) == []
            conn.rollback()
    finally:
        engine.dispose()


@pytest.mark.parametrize("communities", [("幸福里社区",), ("幸福里社区", "北苑社区")])
def test_an_office_at_0025_keeps_its_list_entries_and_places_units_in_its_one_community(
    tmp_path, office_url, communities
):
    """0026: unit entries get a community. With one community they are that community's (live
    entries and tombstones, values and versions as they were); with two they stay street-wide.
    Person entries and other lists are untouched either way."""
    import json

    engine = open_office_engine(tmp_path / "office", office_url, migrate=False)
    _upgrade_with(engine, OFFICE_MIGRATIONS, "0025_pass_out_twice")
    items = [
        ("quarantine", "unit:3-2-501", {"unit": "3-2-501", "until": None, "note": "密接"}, 3, False),
        ("quarantine", "unit:5-1-302", {"unit": "5-1-302", "until": None, "note": ""}, 4, True),
        ("watch", "unit:7-1-101", {"unit": "7-1-101", "until": None, "note": ""}, 1, False),
        ("watch", "person:h", {"person_hash": "h", "until": None, "note": ""}, 2, False),
        ("revoked", "ab" * 16, {"pass_id": "ab" * 16, "reason": "lost", "expires": None}, 1, False),
    ]
    with engine.begin() as conn:
        for n, name in enumerate(communities, 1):
            conn.execute(
                text("INSERT INTO office_community (community_id, name, created_at) VALUES (:i, :n, 0)"),
                {"i": n, "n": name},
            )
        for name, key, value, version, deleted in items:
            conn.execute(
                text(
                    "INSERT INTO office_list_item (list_name, item_key, value, version, deleted)"
                    " VALUES (:n, :k, :v, :ver, :d)"
                ),
                {"n": name, "k": key, "v": json.dumps(value, ensure_ascii=False), "ver": version, "d": deleted},
            )
    engine.dispose()

    engine = open_office_engine(tmp_path / "office", office_url)
    try:
        assert _office_versions(engine) == {OFFICE_HEAD}
        with engine.connect() as conn:
            rows = {
                (n, k): (json.loads(v), ver, bool(d), c)
                for n, k, v, ver, d, c in conn.execute(
                    text("SELECT list_name, item_key, value, version, deleted, community_id FROM office_list_item")
                )
            }
            conn.rollback()
        one = len(communities) == 1
        expected = {
            (name, key + ("@1" if one and key.startswith("unit:") else "")): (
                value,
                version,
                deleted,
                1 if one and key.startswith("unit:") else None,
            )
            for name, key, value, version, deleted in items
        }
        assert rows == expected
    finally:
        engine.dispose()


def test_an_office_at_0026_gets_its_stored_passages_pass_kinds(tmp_path, office_url):
    """0027: a passage stored before has its pass kind read out of its payload as the ingest
    reads it (a top-level integer 0..255, whatever the JSON spacing); anything else, and every
    other kind of record, stays without one. On PostgreSQL the rows sit in day partitions."""
    import json

    engine = open_office_engine(tmp_path / "office", office_url, migrate=False)
    _upgrade_with(engine, OFFICE_MIGRATIONS, "0026_unit_entries_by_community")
    day = dt.date.today().isoformat()
    payloads = {
        "a1": ("passage", json.dumps({"direction": "out", "pass_kind": 4, "unit_code": "3-2-501"}), ""),
        "a2": ("passage", '{"direction":"in","pass_kind":2}', ""),
        "a3": ("passage", json.dumps({"direction": "in", "pass_kind": None}), ""),
        "a4": ("passage", json.dumps({"direction": "in", "pass_kind": "4"}), ""),
        "a5": ("passage", json.dumps({"direction": "in", "pass_kind": 300}), ""),
        "a6": ("passage", json.dumps({"direction": "in", "checks": json.dumps({"pass_kind": 3})}), ""),
        "a7": ("passage", '{"pass_kind": 5', "unreadable"),
        "a8": ("pass_issued", json.dumps({"pass_id": "p", "kind": 1, "pass_kind": 1}), ""),
        "a9": ("passage", json.dumps({"pass_kind": 6}), ""),
    }
    with engine.begin() as conn:
        for seq, (rid, (kind, payload, flags)) in enumerate(payloads.items(), 1):
            conn.execute(
                text(
                    "INSERT INTO office_record (record_id, kiosk_id, epoch, seq, kind, payload, payload_hash,"
                    " device_time, corrected_time, received_at, time_quality, day, hlc, boot_id, mono_ns, flags)"
                    " VALUES (:r, 'k', 1, :s, :kind, :p, 'h', 1, 1, 1, 'device', :day, 1, 'b', 1, :f)"
                ),
                {"r": rid, "s": seq, "kind": kind, "p": payload, "day": day, "f": flags},
            )
    engine.dispose()

    engine = open_office_engine(tmp_path / "office", office_url)
    try:
        assert _office_versions(engine) == {OFFICE_HEAD}
        with engine.connect() as conn:
            got = dict(conn.execute(text("SELECT record_id, pass_kind FROM office_record")).all())
            conn.rollback()
        assert got == {
            "a1": 4,
            "a2": 2,
            "a3": None,
            "a4": None,
            "a5": None,
            "a6": None,
            "a7": None,
            "a8": None,
            "a9": 6,
        }
    finally:
        engine.dispose()


def test_an_office_at_0027_gets_each_pass_last_allowed_passage(tmp_path, office_url):
    """0028: each (kiosk, pass or registration) keeps the allowed passage the kiosk wrote last
    (hlc, then seq, then record id), whatever the order it was stored in; a refused passage, a
    passage naming nothing and other kinds of record make no row. On PostgreSQL across day partitions."""
    engine = open_office_engine(tmp_path / "office", office_url, migrate=False)
    _upgrade_with(engine, OFFICE_MIGRATIONS, "0027_pass_kind_withdrawn_alerts")
    today = dt.date.today()
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    # record id: (kiosk, seq, hlc, kind, ref, verdict, direction, day)
    records = {
        "b1": ("k1", 1, 10, "passage", "pa", "allow", "in", yesterday),
        "b2": ("k1", 3, 30, "passage", "pa", "allow", "out", today.isoformat()),  # pa's last at k1
        "b3": ("k1", 2, 20, "passage", "pa", "allow", "in", today.isoformat()),
        "b4": ("k1", 4, 40, "passage", "pa", "deny", "in", today.isoformat()),  # refused: not a move
        "b5": ("k2", 1, 50, "passage", "pa", "allow", "in", today.isoformat()),  # the other gate's own
        "b6": ("k1", 5, 35, "passage", "reg1", "allow", "out", today.isoformat()),  # a sign-out
        "b7": ("k1", 6, 60, "passage", None, "allow", "in", today.isoformat()),
        "b8": ("k1", 7, 70, "pass_issued", "pa", None, None, today.isoformat()),
        "b9": ("k2", 2, 50, "passage", "pa", "allow", "out", today.isoformat()),  # same instant, later seq
    }
    with engine.begin() as conn:
        for rid, (kiosk, seq, hlc, kind, ref, verdict, direction, day) in records.items():
            conn.execute(
                text(
                    "INSERT INTO office_record (record_id, kiosk_id, epoch, seq, kind, payload, payload_hash,"
                    " device_time, corrected_time, received_at, time_quality, day, hlc, boot_id, mono_ns, flags,"
                    " ref, verdict, direction, unit, pass_kind)"
                    " VALUES (:r, :k, 1, :s, :kind, '{}', 'h', 1, :t, 1, 'device', :day, :hlc, 'b', 1, '',"
                    " :ref, :v, :d, '3-2-501', 1)"
                ),
                {
                    "r": rid,
                    "k": kiosk,
                    "s": seq,
                    "kind": kind,
                    "t": float(hlc),
                    "day": day,
                    "hlc": hlc,
                    "ref": ref,
                    "v": verdict,
                    "d": direction,
                },
            )
    engine.dispose()

    engine = open_office_engine(tmp_path / "office", office_url)
    try:
        assert _office_versions(engine) == {OFFICE_HEAD}
        with engine.connect() as conn:
            got = {
                (k, ref): (rid, d, day)
                for k, ref, rid, d, day in conn.execute(
                    text("SELECT kiosk_id, ref, record_id, direction, day FROM office_last_passage")
                )
            }
            conn.rollback()
        assert got == {
            ("k1", "pa"): ("b2", "out", today.isoformat()),
            ("k1", "reg1"): ("b6", "out", today.isoformat()),
            ("k2", "pa"): ("b9", "out", today.isoformat()),
        }
    finally:
        engine.dispose()
