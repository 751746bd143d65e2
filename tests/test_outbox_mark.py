"""The outbox's high-water mark outside the SQLite file (issue 13, models/hwm.py).

One damaged byte in a committed frame of the -wal file (what an SD card does) makes SQLite stop
replaying at that frame: the later commits vanish on reopen, `integrity_check` still says ok, and
before the mark the next records took the lost `seq` numbers again, with no word to anyone."""

from __future__ import annotations

import io
import shutil
import sqlite3
import sys

import pytest

from models.store import KioskStore

WAL_FRAME = 24 + 4096  # frame header + one page (the kiosk's page size)


def record(store: KioskStore, n: int) -> list[int]:
    """`n` passages, one commit each, as the duty desk saves them; their seqs."""
    from models.facts import record_passage
    from models.verdict import Verdict

    return [record_passage(store, "in", Verdict("allow", ()), subject="unknown").seq for _ in range(n)]


def fold_wal(store: KioskStore) -> None:
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.rollback()


def damaged_wal_copy(store: KioskStore, target, *, frame_at: float = 0.5):
    """The kiosk's data dir as a power cut would leave it (the -wal file not yet folded back),
    with one byte flipped in a committed frame `frame_at` of the way through the -wal file.
    The cut comes after the mark's write landed (it lands one fsync after the commit)."""
    store.mark.flush()
    src = store.data_dir
    target.mkdir()
    for f in src.iterdir():
        if f.is_dir():
            shutil.copytree(f, target / f.name)
        elif not f.name.endswith("-shm"):  # the index is rebuilt from the -wal file on open
            shutil.copy2(f, target / f.name)
    wal = target / "kakou.db-wal"
    data = bytearray(wal.read_bytes())
    frames = (len(data) - 32) // WAL_FRAME
    assert frames > 10, "the records must still be in the -wal file"
    data[32 + int(frames * frame_at) * WAL_FRAME + 24 + 200] ^= 0xFF
    wal.write_bytes(bytes(data))
    return target


def held_seqs(data_dir) -> list[int]:
    conn = sqlite3.connect(data_dir / "kakou.db")
    try:
        return [r[0] for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")]
    finally:
        conn.close()


@pytest.fixture
def kiosk(tmp_path):
    store = KioskStore.open(tmp_path / "kiosk")
    store.set_up("东门", "幸福里社区")
    record(store, 5)
    fold_wal(store)  # the first five are in the main file; what follows stays in the -wal file
    yield store
    store.engine.dispose()


def test_a_damaged_wal_frame_loses_records_and_the_mark_says_which(kiosk, tmp_path):
    written = record(kiosk, 40)
    assert written[-1] == 45
    copy = damaged_wal_copy(kiosk, tmp_path / "copy")
    held = held_seqs(copy)
    assert 5 <= len(held) < 45, "the damaged frame must have cut the replay"

    store = KioskStore.open(copy)
    try:
        # No seq handed out twice: the next record comes after the last one ever committed.
        assert record(store, 1) == [46]
        (lost,) = store.lost_ranges()
        assert (lost.epoch, lost.first, lost.last, lost.reason) == (1, max(held) + 1, 45, "missing")
        words = store.lost_notice()
        assert words is not None
        assert f"丢失了 {45 - max(held)} 条" in words.zh and f"lost {45 - max(held)} saved records" in words.en
        assert "will be told" in words.en  # not yet: no push since
    finally:
        store.engine.dispose()
    # Found once: opening again says the same, counts nothing twice, reuses nothing.
    again = KioskStore.open(copy)
    try:
        assert len(again.lost_ranges()) == 1
        assert record(again, 1) == [47]
    finally:
        again.engine.dispose()


def test_a_clean_reopen_and_a_rolled_back_write_report_nothing_lost(kiosk):
    from sqlalchemy import text

    from models import clock
    from models.outbox import append_fact

    record(kiosk, 3)
    with pytest.raises(RuntimeError):
        with kiosk.writer.begin() as conn:
            append_fact(conn, "passage", {"n": 1}, clock.now())
            raise RuntimeError("the desk's write failed")  # rolled back: seq 9 was never committed
    kiosk.mark.flush()
    assert kiosk.mark.current == (1, 8)
    kiosk.engine.dispose()
    store = KioskStore.open(kiosk.data_dir)
    try:
        assert store.lost_ranges() == [] and store.lost_notice() is None
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT last_seq FROM kiosk_state")).scalar() == 8
    finally:
        store.engine.dispose()


def test_the_mark_survives_a_torn_write_one_commit_behind(tmp_path):
    from models.hwm import MARK_FILE, SLOT, OutboxMark, compare

    mark = OutboxMark(tmp_path)
    for seq in range(1, 6):
        mark.write(1, seq)
    mark.close()
    path = tmp_path / MARK_FILE
    data = bytearray(path.read_bytes())
    newest = 0 if data[:SLOT].split()[2] == b"5" else 1
    data[newest * SLOT + 12] ^= 0x01  # the newest slot half-written when the power went
    path.write_bytes(bytes(data))
    assert OutboxMark(tmp_path).current == (1, 4)
    # Lower than the file: nothing is said to be lost (the file is ahead, the mark catches up).
    assert compare((1, 5), (1, 4)) == []
    assert compare((1, 3), (1, 5)) == [(1, 4, 5)]
    assert compare((1, 9), (2, 4)) == [(2, 1, 4)]  # the move to epoch 2 was lost with its records


def run(monkeypatch, capsys, *argv):
    from tui.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO("888888\n"))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_command_says_records_were_lost(tmp_path, monkeypatch, capsys):
    from tui.demo import seed_demo

    seed_demo(tmp_path / "kiosk", traffic=20)
    store = KioskStore.open(tmp_path / "kiosk")
    fold_wal(store)
    record(store, 40)
    copy = damaged_wal_copy(store, tmp_path / "copy")
    store.engine.dispose()
    token = (copy / "demo-passes" / "3-2-501.txt").read_text().strip()
    d = str(copy)
    for argv in (("report",), ("report", "--lang", "en"), ("pass", "verify", token), ("sync", "--once")):
        code, out, err = run(monkeypatch, capsys, *argv, "--data-dir", d)
        assert code != 70 and "Traceback" not in out + err, (argv, err)
        assert "丢失了" in out + err and "lost" in out + err, (argv, out, err)
    code, out, _err = run(monkeypatch, capsys, "report", "--json", "--data-dir", d)
    assert code == 0 and '"reason": "missing"' in out


async def test_the_desk_says_records_were_lost_and_keeps_running(tmp_path):
    from tests.tui.conftest import wait_for
    from tui.app import DutyApp
    from tui.demo import seed_demo

    seed_demo(tmp_path / "kiosk", traffic=20)
    store = KioskStore.open(tmp_path / "kiosk")
    fold_wal(store)
    record(store, 40)
    copy = damaged_wal_copy(store, tmp_path / "copy")
    store.engine.dispose()
    app = DutyApp(copy, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: bool(app.lost_text), timeout=30)
        assert "saved records" in app.lost_text and "do not delete" in app.lost_text
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LoginScreen", timeout=30)
        assert not app.fatal_text and app.return_code is None  # the gate goes on
