"""A second duty desk on the same data dir is refused in words (issue 13), and the lock of a
desk that died (kill -9, power cut) never keeps the next one from starting."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from tui.cli import main
from tui.desk_lock import DeskBusy, hold_desk_lock


def test_a_second_desk_on_the_same_data_dir_is_refused_in_words(tmp_path, capsys):
    first = hold_desk_lock(tmp_path / "k")
    try:
        assert main(["kiosk", "--data-dir", str(tmp_path / "k")]) == 2
        err = capsys.readouterr().err
        assert "已经有一个值守台" in err and "already open" in err and str(os.getpid()) in err
        assert "Traceback" not in err
    finally:
        first.close()
    assert stat.S_IMODE((tmp_path / "k" / "desk.lock").stat().st_mode) == 0o600


def test_another_data_dir_is_not_locked(tmp_path):
    first = hold_desk_lock(tmp_path / "a")
    second = hold_desk_lock(tmp_path / "b")
    first.close()
    second.close()


def test_the_lock_of_a_killed_desk_is_gone_with_it(tmp_path):
    code = (
        "import sys, time; from pathlib import Path; from tui.desk_lock import hold_desk_lock;"
        f" h = hold_desk_lock(Path({str(tmp_path / 'k')!r})); print('held', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(DeskBusy) as busy:
            hold_desk_lock(tmp_path / "k")
        assert str(child.pid) in busy.value.en
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    deadline = time.monotonic() + 10
    while True:  # the kernel drops the lock with the process (no stale lock file to clear by hand)
        try:
            hold_desk_lock(tmp_path / "k").close()
            break
        except DeskBusy:
            assert time.monotonic() < deadline
            time.sleep(0.05)
