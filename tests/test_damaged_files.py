"""A kiosk file damaged at random, as an SD card does it (issue 13): every command and the duty
desk's start end in plain words about the file, never an internal error (exit 70), never a
traceback, and the file is left as it was (nothing is "repaired" away)."""

from __future__ import annotations

import hashlib
import io
import random
import shutil
import sys

import pytest

from tui.cli import EXIT_ERROR, main

SEEDS = range(30)
DAMAGE_WORDS = ("数据库", "database")


@pytest.fixture(scope="module")
def clean_kiosk(tmp_path_factory):
    from tui.demo import seed_demo

    path = tmp_path_factory.mktemp("damage-base") / "kiosk"
    seed_demo(path, traffic=300)
    return path


def damaged_copy(clean, target, seed: int):
    """The clean kiosk with 8 bytes overwritten at random places of its database."""
    shutil.copytree(clean, target)
    db = target / "kakou.db"
    data = bytearray(db.read_bytes())
    rng = random.Random(seed)
    for _ in range(8):
        data[rng.randrange(100, len(data))] = rng.randrange(256)
    db.write_bytes(bytes(data))
    return target


def run(monkeypatch, capsys, *argv):
    monkeypatch.setattr(sys, "stdin", io.StringIO("888888\n"))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("seed", SEEDS)
def test_every_command_on_a_damaged_file_says_so_in_words(clean_kiosk, tmp_path, seed, monkeypatch, capsys):
    kiosk = damaged_copy(clean_kiosk, tmp_path / "kiosk", seed)
    before = hashlib.sha256((kiosk / "kakou.db").read_bytes()).hexdigest()
    token = (kiosk / "demo-passes" / "3-2-501.txt").read_text().strip()
    d = str(kiosk)
    for argv in (
        ("report", "--data-dir", d),
        ("pass", "verify", token, "--data-dir", d),
        ("pass", "issue", "--kind", "resident", "--unit", "3-2-502", "--data-dir", d),
    ):
        code, out, err = run(monkeypatch, capsys, *argv)
        assert code != 70, f"{argv[0]}: internal error: {err}"
        assert "Traceback" not in out + err
        if code == EXIT_ERROR:
            assert any(w in err for w in DAMAGE_WORDS), f"{argv[0]} failed without saying the file is damaged: {err}"
    if code == EXIT_ERROR:  # refused to write: the damaged file is exactly as it was
        assert hashlib.sha256((kiosk / "kakou.db").read_bytes()).hexdigest() == before


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_desk_starts_on_a_damaged_file_with_words_not_a_crash(clean_kiosk, tmp_path, seed):
    """Under systemd a desk that dies at start is a crash loop: it must start and say why."""
    from tests.tui.conftest import screen_text, wait_for
    from tui.app import DutyApp

    kiosk = damaged_copy(clean_kiosk, tmp_path / "kiosk", seed)
    app = DutyApp(kiosk, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:

        def settled() -> bool:
            name = type(app.screen).__name__
            return name in ("LoginScreen", "SetupScreen") or bool(getattr(app, "fatal_text", ""))

        await wait_for(pilot, settled, timeout=30)
        if app.fatal_text:
            assert "damaged" in app.fatal_text or "database" in app.fatal_text, app.fatal_text
        # The background integrity check has had its chance: either words, or a usable desk.
        await wait_for(pilot, lambda: bool(app.fatal_text) or app.store is not None, timeout=30)
        assert "Traceback" not in screen_text(app)
        assert app.return_code is None, "the desk ended"


def _schema_not_utf8(kiosk):
    """A damaged schema entry whose error message is not UTF-8 (Python's sqlite3 then raises
    UnicodeDecodeError, not a DatabaseError): seen on a real damaged copy."""
    import sqlite3

    conn = sqlite3.connect(kiosk / "kakou.db")
    conn.execute("PRAGMA writable_schema=ON")
    name = conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL LIMIT 1").fetchone()[0]
    conn.execute("UPDATE sqlite_master SET sql = CAST(X'435245415445EC' AS TEXT) WHERE name = ?", (name,))
    conn.commit()
    conn.close()


def test_a_schema_whose_error_is_not_utf8_is_words_in_every_command(clean_kiosk, tmp_path, monkeypatch, capsys):
    kiosk = tmp_path / "kiosk"
    shutil.copytree(clean_kiosk, kiosk)
    _schema_not_utf8(kiosk)
    for argv in (("report",), ("pass", "verify", "88123"), ("sync", "--once")):
        code, _out, err = run(monkeypatch, capsys, *argv, "--data-dir", str(kiosk))
        assert code == EXIT_ERROR, (argv, code, err)
        assert "数据库文件已损坏" in err and "database file is damaged" in err and "Traceback" not in err


async def test_the_desk_on_a_schema_whose_error_is_not_utf8_says_so(clean_kiosk, tmp_path):
    from tests.tui.conftest import wait_for
    from tui.app import DutyApp

    kiosk = tmp_path / "kiosk"
    shutil.copytree(clean_kiosk, kiosk)
    _schema_not_utf8(kiosk)
    app = DutyApp(kiosk, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: bool(app.fatal_text), timeout=30)
        assert "database file is damaged" in app.fatal_text
        assert app.return_code is None


def _change_a_payload(kiosk):
    """One byte of a committed record changed, its hash not: what quick_check cannot see."""
    import sqlite3

    conn = sqlite3.connect(kiosk / "kakou.db")
    seq = conn.execute("SELECT max(seq) FROM outbox").fetchone()[0]
    conn.execute("UPDATE outbox SET payload = substr(payload, 1, 5) || 'x' || substr(payload, 7) WHERE seq = ?", (seq,))
    conn.commit()
    assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    conn.close()


def test_a_record_that_no_longer_matches_its_hash_is_found_by_the_check_and_the_report(
    clean_kiosk, tmp_path, monkeypatch, capsys
):
    from models.errors import StoreError
    from models.store import KioskStore

    kiosk = tmp_path / "kiosk"
    shutil.copytree(clean_kiosk, kiosk)
    _change_a_payload(kiosk)
    store = KioskStore.open(kiosk)  # quick_check passes: the damage is inside a record
    with pytest.raises(StoreError) as damaged:
        store.check_integrity()
    assert damaged.value.code == "store_damaged" and "1 records do not match their hash" in damaged.value.en
    store.close()

    code, out, _err = run(monkeypatch, capsys, "report", "--data-dir", str(kiosk))
    assert code == 0 and "本日有 1 条记录的存档已损坏" in out
    code, out, _err = run(monkeypatch, capsys, "report", "--json", "--data-dir", str(kiosk))
    assert '"damaged_records": 1' in out


async def test_the_desk_stops_on_a_record_that_no_longer_matches_its_hash(clean_kiosk, tmp_path):
    from tests.tui.conftest import wait_for
    from tui.app import DutyApp

    kiosk = tmp_path / "kiosk"
    shutil.copytree(clean_kiosk, kiosk)
    _change_a_payload(kiosk)
    app = DutyApp(kiosk, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: bool(app.fatal_text), timeout=30)
        assert "do not match their hash" in app.fatal_text and app.store_damaged


def test_a_clean_kiosk_passes_the_full_check(clean_kiosk, tmp_path, monkeypatch, capsys):
    from models.store import KioskStore

    kiosk = tmp_path / "kiosk"
    shutil.copytree(clean_kiosk, kiosk)
    store = KioskStore.open(kiosk)
    store.check_integrity()
    store.close()
    code, out, _err = run(monkeypatch, capsys, "report", "--data-dir", str(kiosk))
    assert code == 0 and "损坏" not in out


def test_the_background_check_hashes_in_slices_and_still_finds_the_damage(store):
    """The desk's start-up check pauses between slices of records (it hands the interpreter back
    to the scans: issue 17), and a damaged record in the last slice is still found."""
    from sqlalchemy import text

    from models.errors import StoreError
    from models.outbox import damaged_records
    from tests.sync.helpers import write_passages

    write_passages(store, 600)
    with store.writer.begin() as conn:  # the SD card changed a byte of the newest record
        conn.execute(text("UPDATE outbox SET payload = payload || ' ' WHERE seq = (SELECT max(seq) FROM outbox)"))
    pauses: list[int] = []
    with store.engine.connect() as conn:
        bad = damaged_records(conn, pause=lambda: pauses.append(1), every=256)
    assert len(pauses) == 2 and len(bad) == 1  # 600 records: two full slices of 256
    with pytest.raises(StoreError) as damaged:
        store.check_integrity(pause=lambda: pauses.append(1))
    assert "1 records do not match their hash" in damaged.value.en and len(pauses) == 4
