"""Crash reliability: kill -9 at random moments, a full disk, a clock that jumps.

What a volunteer relies on: a passage shown as saved is in the file after the power is cut;
the file is never damaged; `seq` keeps counting without a gap, so the office can prove it has
everything; a full disk or a wrong clock is explained, never fatal, and work resumes once the
cause is gone.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import types
from pathlib import Path

import pytest
from sqlalchemy import text

from models import clock
from models.errors import StoreError
from models.facts import record_passage
from models.store import DB_FILE, KioskStore
from models.verdict import ALLOW, Verdict

PERSON_ALLOWED = Verdict(ALLOW, ())
KILLS = 32  # at least 30 kill -9s across the run (issue 7)


# -- helpers ----------------------------------------------------------------------------------


def _file_state(data_dir: Path) -> dict:
    """What is in the file, read with a bare sqlite3 connection (not the code under test)."""
    conn = sqlite3.connect(data_dir / DB_FILE, isolation_level=None)
    try:
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        seqs = [r[0] for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")]
        hlcs = [r[0] for r in conn.execute("SELECT hlc FROM outbox ORDER BY seq")]
        row = conn.execute("SELECT last_seq, acked_seq FROM kiosk_state WHERE id = 1").fetchone()
        passages = conn.execute("SELECT count(*) FROM passage").fetchone()[0]
        orphans = conn.execute(
            "SELECT count(*) FROM passage p LEFT JOIN outbox o ON o.record_id = p.record_id WHERE o.record_id IS NULL"
        ).fetchone()[0]
    finally:
        conn.close()
    last_seq, acked_seq = row if row else (0, 0)
    return {
        "integrity": integrity,
        "seqs": seqs,
        "hlcs": hlcs,
        "last_seq": last_seq,
        "acked_seq": acked_seq,
        "passages": passages,
        "orphans": orphans,
    }


def _child_main(data_dir: Path, out_fd: int, sync_like: bool) -> None:
    """Record passages as fast as possible, printing "recording" before each and its seq after
    its COMMIT returned (a kill between the two landed inside the recording transaction).

    With `sync_like`, a second thread does what the sync worker does to the file: read a
    batch of pending records, then advance the acknowledged mark in its own transaction,
    printing "acking N" before it and "acked N" once it committed.
    """
    store = KioskStore.open(data_dir)
    os.write(out_fd, b"open\n")
    if sync_like:

        def pusher():
            while True:
                with store.engine.connect() as conn:
                    batch = conn.execute(
                        text(
                            "SELECT o.seq FROM outbox o, kiosk_state s WHERE s.id = 1 AND o.seq > s.acked_seq"
                            " ORDER BY o.seq LIMIT 50"
                        )
                    ).all()
                    conn.rollback()
                if batch:
                    time.sleep(0.002)  # "sending"
                    os.write(out_fd, f"acking {batch[-1][0]}\n".encode())
                    store.set_acked(batch[-1][0])
                    os.write(out_fd, f"acked {batch[-1][0]}\n".encode())

        threading.Thread(target=pusher, daemon=True).start()
    direction = "in"
    while True:
        os.write(out_fd, b"recording\n")
        fact = record_passage(store, direction, PERSON_ALLOWED, subject="person", unit_code="3-2-501")
        os.write(out_fd, f"{fact.seq}\n".encode())  # one small write: atomic on a pipe
        direction = "out" if direction == "in" else "in"


def _run_and_kill(data_dir: Path, delay: float, sync_like: bool, child=None) -> tuple[list[int], list[int], list[str]]:
    """Fork a recording child, kill -9 it after `delay` seconds, return what it printed.

    Forked rather than exec'd so each of the many runs skips the interpreter's import time;
    the parent holds no SQLite connection across the fork. `child` replaces `_child_main`
    (same arguments, same lines on the pipe: one seq per commit, "acked N", "error ...").
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 0
        try:
            os.close(read_fd)
            (child or _child_main)(data_dir, write_fd, sync_like)
        except BaseException as exc:
            os.write(write_fd, f"error {type(exc).__name__}: {exc}\n".encode())
            code = 1
        os._exit(code)
    os.close(write_fd)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    lines = b"".join(chunks).decode().splitlines()
    errors = [line for line in lines if line.startswith("error")]
    assert errors == [], errors
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, "child ended before the kill"
    seqs = [int(line) for line in lines if line.isdigit()]
    acks = [int(line.split()[1]) for line in lines if line.startswith("acked")]
    return seqs, acks, lines


def killed_mid(lines: list[str], started: str, done: str) -> bool:
    """Whether the child's last `started` line has no `done` line after it: the kill landed
    between the two (for "recording"/seq and "acking"/"acked": inside that transaction, or
    between its COMMIT and the print)."""
    marks = [line for line in lines if line.startswith(started) or done(line)]
    return bool(marks) and marks[-1].startswith(started)


def _kill_loop(data_dir: Path, kills: int, sync_like: bool, rng: random.Random) -> dict:
    KioskStore.open(data_dir).engine.dispose()  # made once, so each child starts on a real file
    total_printed = mid_record = mid_ack = 0
    round_no = 0

    def missing() -> bool:  # the kills this test is about have not all happened yet
        if mid_record == 0:
            return True
        return sync_like and (mid_ack == 0 or _file_state(data_dir)["acked_seq"] == 0)

    while round_no < kills or (round_no < kills + 15 and missing()):
        before = _file_state(data_dir)
        # Mostly mid-stream, sometimes during start-up (open, quick_check, own-key row). On a
        # loaded machine the child may not reach a recording or an ack within those delays:
        # up to fifteen longer rounds follow until a kill has landed inside each kind of
        # transaction, and the caller asserts that it did.
        if round_no < kills:
            delay = rng.choice((rng.uniform(0.0, 0.03), rng.uniform(0.03, 0.25), rng.uniform(0.03, 0.25)))
        else:
            delay = 1.0 + rng.uniform(0.0, 0.5)
        round_no += 1
        seqs, acks, lines = _run_and_kill(data_dir, delay, sync_like)
        after = _file_state(data_dir)
        _check_after_kill(before, after, seqs, acks, f"round {round_no}, killed after {delay * 1000:.0f} ms")
        total_printed += len(seqs)
        mid_record += killed_mid(lines, "recording", str.isdigit)
        mid_ack += killed_mid(lines, "acking", lambda line: line.startswith("acked"))
    return {
        "printed": total_printed,
        "final": _file_state(data_dir),
        "rounds": round_no,
        "mid_record": mid_record,
        "mid_ack": mid_ack,
    }


def _check_after_kill(before: dict, after: dict, seqs: list[int], acks: list[int], where: str) -> None:
    """What must hold of the file (`_file_state`) after a child that printed `seqs` and `acks` was killed."""
    assert after["integrity"] == ["ok"], where
    # Gapless and resumed: this run continued exactly where the file stood.
    assert after["seqs"] == list(range(1, len(after["seqs"]) + 1)), where
    assert after["last_seq"] == len(after["seqs"]), where
    if seqs:
        assert seqs == list(range(before["last_seq"] + 1, before["last_seq"] + 1 + len(seqs))), where
    # Everything the child reported as saved is in the file (at most one more commit may
    # have landed between COMMIT and the print).
    assert before["last_seq"] + len(seqs) <= after["last_seq"] <= before["last_seq"] + len(seqs) + 1, where
    assert all(b > a for a, b in zip(after["hlcs"], after["hlcs"][1:], strict=False)), where
    assert after["orphans"] == 0 and after["passages"] == after["last_seq"], where
    if acks:
        assert after["acked_seq"] >= max(acks), where  # a printed ack is durable too
    assert after["acked_seq"] <= after["last_seq"], where


# -- kill -9 ----------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork() to run many kill -9 rounds quickly")
class TestKillNine:
    def test_kill_while_recording_loses_nothing_and_resumes(self, tmp_path):
        seed = int(os.environ.get("KAKOU_KILL_SEED", random.randrange(1 << 30)))
        print(f"kill -9 seed {seed} (rerun with KAKOU_KILL_SEED={seed})")
        result = _kill_loop(tmp_path / "kiosk", KILLS - 10, sync_like=False, rng=random.Random(seed))
        assert result["printed"] > 0, "the child never got to record anything"
        assert result["mid_record"] > 0, f"no kill landed inside a recording transaction: {result}"
        print(f"{result['rounds']} kills, {result['mid_record']} inside a recording")

        # The next ordinary run carries on from the last seq.
        store = KioskStore.open(tmp_path / "kiosk")
        try:
            last = result["final"]["last_seq"]
            fact = record_passage(store, "in", PERSON_ALLOWED, subject="person", unit_code="3-2-501")
            assert fact.seq == last + 1
        finally:
            store.close()

    def test_kill_while_a_sync_batch_is_being_acknowledged(self, tmp_path):
        seed = int(os.environ.get("KAKOU_KILL_SEED", random.randrange(1 << 30)))
        print(f"kill -9 seed {seed} (rerun with KAKOU_KILL_SEED={seed})")
        result = _kill_loop(tmp_path / "kiosk", 10, sync_like=True, rng=random.Random(seed))
        final = result["final"]
        assert final["acked_seq"] > 0, "the sync-like thread never acknowledged a batch"
        assert result["mid_ack"] > 0, f"no kill landed while an acknowledgement was being written: {result}"
        print(f"{result['rounds']} kills, {result['mid_ack']} while acknowledging, {result['mid_record']} recording")
        store = KioskStore.open(tmp_path / "kiosk")
        try:
            assert store.pending()[0] == final["last_seq"] - final["acked_seq"]
        finally:
            store.close()

    def test_kill_of_a_real_separate_process(self, tmp_path):
        """Once through a freshly exec'd interpreter, as the kiosk really runs."""
        data_dir = tmp_path / "kiosk"
        script = (
            "import os, sys\n"
            "from tests.test_reliability import _child_main\n"
            "_child_main(__import__('pathlib').Path(sys.argv[1]), 1, False)\n"
        )
        child = subprocess.Popen(
            [os.sys.executable, "-c", script, str(data_dir)],
            cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        printed = []
        try:
            assert child.stdout.readline().strip() == b"open", child.stderr.read()
            while len(printed) < 50:
                line = child.stdout.readline().strip()
                if line.isdigit():
                    printed.append(int(line))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        printed += [int(x) for x in child.stdout.read().split() if x.isdigit()]
        state = _file_state(data_dir)
        assert state["integrity"] == ["ok"]
        assert printed == list(range(1, len(printed) + 1))
        assert state["seqs"] == list(range(1, state["last_seq"] + 1))
        assert len(printed) <= state["last_seq"] <= len(printed) + 1


# -- full disk --------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs made for this test (needs root, as the kiosk's test box has)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    if not shutil.which("mount") or os.geteuid() != 0:
        pytest.skip("making a small filesystem needs root and mount(8)")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def _fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        block = b"\0" * 65536
        while True:
            try:
                os.write(fd, block)
            except OSError:
                if len(block) == 512:
                    break
                block = block[: len(block) // 2]  # fill the last scraps too
    finally:
        os.close(fd)


class TestFullDisk:
    def test_recording_fails_plainly_keeps_what_was_saved_and_resumes(self, small_disk):
        data_dir = small_disk / "kiosk"
        store = KioskStore.open(data_dir)
        try:
            store.set_up("东门卡口", "幸福里社区")
            saved = [
                record_passage(store, "in", PERSON_ALLOWED, subject="person", unit_code="3-2-501") for _ in range(10)
            ]
            filler = small_disk / "someone-elses-big-file"
            _fill(filler)

            for _ in range(3):  # the volunteer tries again; each attempt says the same
                with pytest.raises(StoreError) as caught:
                    record_passage(store, "out", PERSON_ALLOWED, subject="person", unit_code="3-2-501")
                err = caught.value
                assert err.code == "disk_full"
                assert "磁盘已满" in err.zh and "disk full" in err.en
                assert "Free some space" in err.en and "saved records are kept" in err.en

            state = _file_state(data_dir)
            assert state["integrity"] == ["ok"]
            assert state["seqs"] == [f.seq for f in saved] == list(range(1, 11))

            filler.unlink()
            resumed = record_passage(store, "out", PERSON_ALLOWED, subject="person", unit_code="3-2-501")
            assert resumed.seq == 11  # no seq was used up by the failed attempts
        finally:
            store.engine.dispose()
        state = _file_state(data_dir)
        assert state["integrity"] == ["ok"] and state["seqs"] == list(range(1, 12))
        assert state["passages"] == 11

    def test_other_writes_say_disk_full_too(self, small_disk):
        """Issuing a pass is a write like any other; it must not leak a raw SQLite error."""
        from models.passes import issue_pass
        from models.passtoken import PassKind

        store = KioskStore.open(small_disk / "kiosk")
        try:
            store.set_up("东门卡口", "幸福里社区")
            _fill(small_disk / "filler")
            with pytest.raises(StoreError) as caught:
                for _ in range(20):  # the first may still fit in a free page
                    issue_pass(store, PassKind.RESIDENT, "3-2-501", "王芳")
            assert caught.value.code == "disk_full"
        finally:
            store.engine.dispose()


# -- a clock that jumps -----------------------------------------------------------------------


class _FakeClock:
    """Stands in for the `time` module inside models.clock and models.store."""

    monotonic_ns = staticmethod(time.monotonic_ns)  # monotonic time is not the wall clock

    def __init__(self, wall: float):
        self.wall = wall

    def time(self) -> float:
        return self.wall


class TestClockJumps:
    def test_records_keep_coming_with_growing_seq_and_hlc_and_backward_steps_flagged(self, store, monkeypatch):
        from models.gate import check_token
        from models.passes import issue_pass
        from models.passtoken import PassKind

        real_now = time.time()
        fake = _FakeClock(real_now)
        monkeypatch.setattr(clock, "time", types.SimpleNamespace(time=fake.time, monotonic_ns=fake.monotonic_ns))
        monkeypatch.setattr("models.store.time", types.SimpleNamespace(time=fake.time))
        resident = issue_pass(store, PassKind.RESIDENT, "3-2-501", "王芳", valid_days=30)

        # (wall clock, whether records made then must carry the "backwards" flag)
        phases = [
            (real_now, False),
            (5.0, True),  # power cut, no RTC: 1970-01-01 00:00:05
            (real_now + 60, False),  # NTP answered
            (real_now + 60 - 3600, True),  # stepped back an hour
            (real_now + 366 * 86400, False),  # jumped a year ahead
            (real_now + 120, True),  # and back
        ]
        expected_flags, walls, verdicts = [], [], []
        for wall, backwards in phases:
            for i in range(4):
                fake.wall = wall + i * 0.5
                direction = ("in", "out")[i % 2]  # one gate: in, out, in, out (in twice would be CHECK)
                verdict = check_token(store, resident.token, direction)
                verdicts.append((wall, verdict.outcome))
                record_passage(store, direction, verdict, subject="pass")
                expected_flags.append("backwards" if backwards else "")
                walls.append(fake.wall)

        with store.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT seq, hlc, clock_flag, wall_time FROM outbox WHERE kind = 'passage' ORDER BY seq")
            ).all()
            conn.rollback()
        assert len(rows) == len(walls)  # every passage was saved, whatever the clock said
        seqs = [r.seq for r in rows]
        assert seqs == list(range(seqs[0], seqs[0] + len(rows)))
        hlcs = [r.hlc for r in rows]
        assert all(b > a for a, b in itertools.pairwise(hlcs))
        assert [r.clock_flag for r in rows] == expected_flags
        # The device time is kept as the clock said it, for the office to correct.
        assert [r.wall_time for r in rows] == pytest.approx(walls)
        # A valid pass is not refused because the clock read 1970 after a power cut.
        assert all(outcome == ALLOW for wall, outcome in verdicts if wall in (real_now, 5.0, real_now + 60))

    def test_a_pass_is_accepted_again_once_a_forward_jump_is_corrected(self, store, monkeypatch):
        from models.gate import check_token
        from models.passes import issue_pass
        from models.passtoken import PassKind

        real_now = time.time()
        fake = _FakeClock(real_now)
        monkeypatch.setattr(clock, "time", types.SimpleNamespace(time=fake.time, monotonic_ns=fake.monotonic_ns))
        monkeypatch.setattr("models.store.time", types.SimpleNamespace(time=fake.time))
        resident = issue_pass(store, PassKind.RESIDENT, "3-2-501", "王芳", valid_days=30)
        fake.wall = real_now + 366 * 86400  # a bad NTP answer
        record_passage(store, "in", check_token(store, resident.token, "in"), subject="pass")
        fake.wall = real_now + 60  # corrected a minute later
        assert check_token(store, resident.token, "in").outcome == ALLOW
