"""The kiosk's SQLite engine: durability settings on live connections, migrations, bad files.

These are the guarantees the duty desk relies on when it shows "saved": the pragmas must
hold on *every* connection (SQLite keeps them per connection, and the pool opens new ones
for other threads), and a kiosk in the field must be able to upgrade its own file.
"""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import inspect
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables)
from models.engine import (
    BUSY_TIMEOUT_MS,
    current_revision,
    head_revision,
    open_engine,
    read_pragmas,
)
from models.errors import StoreError
from models.store import DB_FILE, KioskStore


def _pragmas_of(conn) -> dict[str, object]:
    names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "secure_delete")
    return {n: conn.exec_driver_sql(f"PRAGMA {n}").scalar() for n in names}


EXPECTED = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 5000, "secure_delete": 1}


class TestPragmas:
    def test_store_connection_reports_durable_settings(self, tmp_path):
        store = KioskStore.open(tmp_path)
        try:
            values = read_pragmas(store.engine)
        finally:
            store.close()
        assert {k: values[k] for k in EXPECTED} == EXPECTED
        assert BUSY_TIMEOUT_MS == 5000

    def test_every_pooled_connection_has_them_not_just_the_first(self, tmp_path):
        """A second connection (another thread, while the first is held) is set up the same."""
        store = KioskStore.open(tmp_path)
        seen: list[dict] = []
        try:
            with store.engine.connect() as first:
                seen.append(_pragmas_of(first))

                def other_thread():
                    with store.engine.connect() as second:
                        assert second.connection.dbapi_connection is not first.connection.dbapi_connection
                        seen.append(_pragmas_of(second))
                        second.rollback()

                t = threading.Thread(target=other_thread)
                t.start()
                t.join(10)
                first.rollback()
        finally:
            store.close()
        assert seen == [EXPECTED, EXPECTED]

    def test_writer_transactions_take_the_write_lock_up_front(self, tmp_path):
        """BEGIN IMMEDIATE: while one writer holds the lock another can't start writing,
        but plain readers still read (WAL)."""
        store = KioskStore.open(tmp_path)
        raw = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None, timeout=0.05)
        try:
            with store.writer.begin() as conn:
                conn.exec_driver_sql("SELECT 1")  # no write yet: only the immediate lock
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    raw.execute("BEGIN IMMEDIATE")
                assert raw.execute("SELECT count(*) FROM kiosk_state").fetchone() == (1,)
        finally:
            raw.close()
            store.close()


class TestMigrations:
    def test_empty_file_is_brought_to_head_with_every_table(self, tmp_path):
        db = tmp_path / DB_FILE
        db.touch()  # a zero-byte file, as left by a first start that lost power
        engine = open_engine(db)
        try:
            assert current_revision(engine) == head_revision()
            inspector = inspect(engine)
            tables = set(inspector.get_table_names()) - {"alembic_version"}
            assert tables == set(SQLModel.metadata.tables)
            for name, table in SQLModel.metadata.tables.items():
                columns = {c["name"] for c in inspector.get_columns(name)}
                assert columns == {c.name for c in table.columns}, name
        finally:
            engine.dispose()

    def test_reopening_keeps_the_data_and_the_revision(self, tmp_path):
        store = KioskStore.open(tmp_path)
        store.set_up("东门卡口", "幸福里社区")
        kiosk_id = store.kiosk_state().kiosk_id
        store.close()

        again = KioskStore.open(tmp_path)
        try:
            assert again.kiosk_state().kiosk_id == kiosk_id
            assert again.checkpoint().name == "东门卡口"
            assert current_revision(again.engine) == head_revision()
        finally:
            again.close()


class TestBadFiles:
    def test_a_file_that_is_not_a_database_gives_a_plain_message(self, tmp_path):
        (tmp_path / DB_FILE).write_bytes(b"this is not an sqlite file at all" * 100)
        with pytest.raises(StoreError) as caught:
            KioskStore.open(tmp_path)
        err = caught.value
        assert err.code == "store_damaged"
        # Says what to do, in both languages, and never invites deleting the records.
        assert "不要删除" in err.zh and "do not delete" in err.en
        assert "Traceback" not in str(err)

    def test_damaged_file_is_left_untouched(self, tmp_path):
        garbage = b"SQLite format 3\x00" + b"\xff" * 4000
        (tmp_path / DB_FILE).write_bytes(garbage)
        with pytest.raises(StoreError):
            KioskStore.open(tmp_path)
        assert (tmp_path / DB_FILE).read_bytes() == garbage


class TestDeferredCheck:
    """Start-up without the whole-file check (it takes seconds on a big file), then the check
    in the background: a damaged page is still found and reported in plain words."""

    def _damaged_kiosk(self, tmp_path):
        from models.facts import record_passage
        from models.verdict import ALLOW, Verdict

        store = KioskStore.open(tmp_path)
        for _ in range(40):
            record_passage(store, "in", Verdict(ALLOW, ()), subject="person", unit_code="3-2-501")
        store.close()
        db = tmp_path / DB_FILE
        conn = sqlite3.connect(db)
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        # A leaf page of the passage table's unit_code index: not read by opening the store.
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'ix_passage_unit_code'").fetchone()[0]
        conn.close()
        with open(db, "r+b") as f:
            f.seek((root - 1) * page_size + 8)
            f.write(b"\xa5" * (page_size - 8))

    def test_open_without_check_then_check_integrity_finds_the_damage(self, tmp_path):
        self._damaged_kiosk(tmp_path)
        with pytest.raises(StoreError):
            KioskStore.open(tmp_path)  # the default still checks at start
        store = KioskStore.open(tmp_path, check=False)
        try:
            with pytest.raises(StoreError) as caught:
                store.check_integrity()
        finally:
            store.engine.dispose()
        assert caught.value.code == "store_damaged"
        assert "请联系管理员" in caught.value.zh and "Call your supervisor" in caught.value.en

    def test_a_read_that_meets_the_damaged_page_says_so_in_words(self, tmp_path):
        """Read-only commands skip the start-up check; a damaged page they meet is the same
        plain StoreError as a failed check, not an internal error."""
        from sqlalchemy import text

        self._damaged_kiosk(tmp_path)
        store = KioskStore.open(tmp_path, check=False)
        try:
            with pytest.raises(StoreError) as caught, store.engine.connect() as conn:
                conn.execute(
                    text("SELECT count(*) FROM passage INDEXED BY ix_passage_unit_code WHERE unit_code = '3-2-501'")
                ).all()
        finally:
            store.engine.dispose()
        assert caught.value.code == "store_damaged"
        assert "不要删除该文件" in caught.value.zh

    def test_read_only_commands_skip_the_whole_file_check_and_report_damage_in_words(
        self, tmp_path, capsys, monkeypatch
    ):
        import models.engine
        from tui.cli import EXIT_ERROR, main

        self._damaged_kiosk(tmp_path)
        checks = []
        real_check = models.engine.quick_check
        monkeypatch.setattr(models.engine, "quick_check", lambda engine: (checks.append(1), real_check(engine)))
        code = main(["pass", "list", "--data-dir", str(tmp_path)])  # reads no passage page: works
        assert code == 0 and checks == []
        # A command that writes checks first and refuses the damaged file before writing.
        code = main(["pass", "revoke", "0" * 32, "--reason", "x", "--data-dir", str(tmp_path)])
        err = capsys.readouterr().err
        assert checks == [1] and code == EXIT_ERROR
        assert "数据库文件已损坏" in err and "internal error" not in err

    def test_check_integrity_passes_on_a_sound_file(self, tmp_path):
        store = KioskStore.open(tmp_path, check=False)
        try:
            store.check_integrity()  # returns quietly: the desk shows nothing
            assert store.kiosk_state().last_seq == 0
        finally:
            store.close()


def test_migrations_match_the_tables_exactly(tmp_path):
    """A schema change without its migration would leave kiosks in the field on an old file."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    from models.engine import open_engine

    engine = open_engine(tmp_path / "k.db")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    engine.dispose()


def test_a_file_from_the_first_release_upgrades_and_keeps_its_records(tmp_path):
    from alembic import command
    from alembic.config import Config

    from models.engine import MIGRATIONS_DIR, head_revision
    from models.facts import record_passage
    from models.gate import check_token
    from models.passes import issue_pass
    from models.passtoken import PassKind
    from models.store import KioskStore

    store = KioskStore.open(tmp_path / "k")
    p = issue_pass(store, PassKind.RESIDENT, "3-2-501")
    record_passage(store, "in", check_token(store, p.token, "in"))
    store.engine.dispose()
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{tmp_path / 'k' / 'kakou.db'}")
    command.downgrade(cfg, "0001")  # as the first release left it

    reopened = KioskStore.open(tmp_path / "k")
    with reopened.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head_revision()
        assert conn.exec_driver_sql("SELECT count(*) FROM passage").scalar() == 1
        indexes = {r[1] for r in conn.exec_driver_sql("PRAGMA index_list(passage)")}
    assert "ix_passage_unit_dir_time" in indexes
    # The passage in survived the upgrade: the pass is inside, so out is allowed and in again is checked.
    assert check_token(reopened, p.token, "out").allowed
    assert check_token(reopened, p.token, "in").reason_codes() == ["already_in"]


def test_the_database_and_its_wal_are_readable_by_the_owner_only(tmp_path):
    from models.facts import record_passage
    from models.store import KioskStore
    from models.verdict import Verdict

    store = KioskStore.open(tmp_path / "k")
    record_passage(store, "in", Verdict("allow", ()), subject="person", unit_code="3-2-501")
    files = [p for p in (tmp_path / "k").iterdir() if p.name.startswith("kakou.db")]
    assert {p.name for p in files} >= {"kakou.db", "kakou.db-wal"}
    assert all(p.stat().st_mode & 0o077 == 0 for p in files), [(p.name, oct(p.stat().st_mode)) for p in files]
    store.engine.dispose()
