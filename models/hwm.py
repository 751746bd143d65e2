"""The outbox's high-water mark, kept outside the SQLite file: the newest committed (epoch, seq).

Why: one damaged frame in the -wal file makes SQLite stop replaying at that frame, so every
commit after it vanishes on the next open while `integrity_check` still says "ok", and
`kiosk_state.last_seq` vanishes with them (the next records would reuse the lost numbers).
A mark in a file of its own, written after every commit that moved the outbox, says what the
file held; `KioskStore.open` compares the two at every open (`compare`).

The file (`DATA_DIR/outbox.mark`, owner-only) has two fixed 64-byte slots written in turn, each
with its own CRC, so a write torn by a power cut leaves the other slot, one commit older: the
mark is never ahead of what was committed (it is written after the commit), and at most one
commit behind it (a cut between the commit and the mark), which is harmless (a lower mark only
means a loss of that one commit would go unseen).
"""

from __future__ import annotations

import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from models.words import Words

MARK_FILE = "outbox.mark"
SLOT = 64
_MAGIC = b"KAKOUHWM1"


def _slot_bytes(epoch: int, seq: int) -> bytes:
    body = b"%s %d %d" % (_MAGIC, epoch, seq)
    line = b"%s %08x\n" % (body, zlib.crc32(body))
    return line.ljust(SLOT, b" ")


def _parse_slot(raw: bytes) -> tuple[int, int] | None:
    try:
        magic, epoch, seq, crc = raw.split(b"\n", 1)[0].split(b" ")
        if magic != _MAGIC or int(crc, 16) != zlib.crc32(b"%s %s %s" % (magic, epoch, seq)):
            return None
        return int(epoch), int(seq)
    except ValueError:
        return None


class OutboxMark:
    """The mark file, open for the life of the store: `read()` the newest valid slot, `write()`
    a newer mark durably (pwrite + fdatasync), `write_soon()` the same on the mark's own thread.

    The desk's commits use `write_soon`: the passage is saved when SQLite's commit returns, and
    a second fsync in that path would double the commit's time on an SD card (see
    tests/bench/bench_kiosk.py, kiosk.commit_mark). The mark then lands one fsync later; marks
    that come while one is being written are folded into the next write (only the newest
    matters). A power cut inside that window leaves the mark one commit behind: harmless."""

    IDLE_S = 2.0  # the writer thread ends after this long without a mark to write

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / MARK_FILE
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self._io = threading.Lock()  # one pwrite + fdatasync at a time
        self._cond = threading.Condition()  # guards _pending, _busy, _thread
        self._pending: tuple[int, int] | None = None
        self._busy = False
        self._thread: threading.Thread | None = None
        self._slot = 0
        self.current = self.read()

    def read(self) -> tuple[int, int] | None:
        raw = os.pread(self._fd, 2 * SLOT, 0)
        marks = [(m, i) for i in range(2) if (m := _parse_slot(raw[i * SLOT : (i + 1) * SLOT])) is not None]
        if not marks:
            return None
        newest, slot = max(marks)
        self._slot = 1 - slot  # the next write goes to the older slot
        return newest

    def write(self, epoch: int, seq: int) -> None:
        """Durably note (epoch, seq) if it is newer than the mark (marks only ever rise)."""
        with self._io:
            if self.current is not None and (epoch, seq) <= self.current:
                return
            os.pwrite(self._fd, _slot_bytes(epoch, seq), self._slot * SLOT)
            os.fdatasync(self._fd)
            self._slot = 1 - self._slot
            self.current = (epoch, seq)

    def write_soon(self, epoch: int, seq: int) -> None:
        """`write` on the mark's thread; returns at once."""
        with self._cond:
            if self._pending is not None and (epoch, seq) <= self._pending:
                return
            self._pending = (epoch, seq)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kakou-outbox-mark", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._pending is None:
                    self._cond.wait(self.IDLE_S)
                if self._pending is None:
                    self._thread = None
                    self._cond.notify_all()
                    return
                mark, self._pending, self._busy = self._pending, None, True
            try:
                self.write(*mark)
            except OSError:
                pass  # a mark that lags only weakens the next check; the record itself is saved
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every mark handed to `write_soon` is on disk."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def reset(self, epoch: int, seq: int) -> None:
        """Write (epoch, seq) into both slots, lower than the mark or not: after a loss was
        recorded the mark says where the kiosk is now (an older, higher slot must not win)."""
        self.flush()
        with self._io:
            for slot in (0, 1):
                os.pwrite(self._fd, _slot_bytes(epoch, seq), slot * SLOT)
            os.fdatasync(self._fd)
            self.current = (epoch, seq)

    def close(self) -> None:
        self.flush()
        try:
            os.close(self._fd)
        except OSError:
            pass


def compare(db: tuple[int, int], mark: tuple[int, int] | None) -> list[tuple[int, int, int]]:
    """The (epoch, first seq, last seq) ranges the mark says were committed and the file no
    longer holds, given the file's own (epoch, last_seq); [] when nothing is missing."""
    if mark is None or db >= mark:
        return []
    db_epoch, db_last = db
    mark_epoch, mark_seq = mark
    if db_epoch == mark_epoch:
        return [(mark_epoch, db_last + 1, mark_seq)]
    # The move to the newer epoch was lost as well: everything of that epoch is gone (what the
    # older epoch held after `db_last` cannot be told any more).
    return [(mark_epoch, 1, mark_seq)] if mark_seq > 0 else []


@dataclass(frozen=True)
class LostRange:
    """Records this kiosk committed and can no longer send: `missing` from the file (the mark
    says they were there) or `damaged` (their payload no longer matches its hash)."""

    epoch: int
    first: int
    last: int
    reason: str  # "missing" or "damaged"
    found_at: float
    reported_at: float | None = None  # when the office took the claim (None: not yet)

    @property
    def count(self) -> int:
        return self.last - self.first + 1


def _ranges_text(ranges: list[LostRange], sep: str) -> str:
    shown = [f"{r.epoch}:{r.first}" + (f"-{r.last}" if r.last != r.first else "") for r in ranges[:5]]
    return sep.join(shown) + (" ..." if len(ranges) > 5 else "")


def lost_words(ranges: list[LostRange]) -> Words | None:
    """The one set of words for records this kiosk lost (the duty screen, every command, the
    report, `kakou sync`); None when none were lost."""
    if not ranges:
        return None
    missing = [r for r in ranges if r.reason == "missing"]
    damaged = [r for r in ranges if r.reason != "missing"]
    told = all(r.reported_at is not None for r in ranges)
    zh_parts, en_parts = [], []
    if missing:
        n = sum(r.count for r in missing)
        zh_parts.append(
            f"本机数据库丢失了 {n} 条已保存的记录（批次:编号 {_ranges_text(missing, '，')}），可能是存储卡损坏"
        )
        en_parts.append(
            f"the kiosk's database lost {n} saved records (epoch:seq {_ranges_text(missing, ', ')}), perhaps a failing"
            " SD card"
        )
    if damaged:
        n = sum(r.count for r in damaged)
        zh_parts.append(f"{n} 条记录已损坏（内容与校验值不符），不能上传（批次:编号 {_ranges_text(damaged, '，')}）")
        en_parts.append(
            f"{n} records are damaged (their content no longer matches its hash) and cannot be sent"
            f" (epoch:seq {_ranges_text(damaged, ', ')})"
        )
    zh_told = "已报告街道办" if told else "联网后会报告街道办"
    en_told = "the office has been told" if told else "the office will be told when online"
    return Words(
        "；".join(zh_parts) + f"。新记录不会重用这些编号；{zh_told}。请联系管理员，不要删除数据目录。",
        "; ".join(en_parts) + f". New records never reuse these numbers; {en_told}. Call your supervisor; do not"
        " delete the data directory.",
    )
