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


def test_another_data_dir_is_not_locked_and_a_closed_desk_frees_its_own(tmp_path):
    first = hold_desk_lock(tmp_path / "a")
    second = hold_desk_lock(tmp_path / "b")  # another kiosk file on the same machine: its own lock
    with pytest.raises(DeskBusy):
        hold_desk_lock(tmp_path / "a")  # while "a" is held, only "a" is refused
    first.close()
    hold_desk_lock(tmp_path / "a").close()  # closed: the next desk on "a" starts
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


async def test_scans_at_the_lock_screen_count_as_no_wrong_pin(desk_dir):
    """Issue 14: three scans at the idle lock screen locked the kiosk for everyone."""
    from tests.tui.conftest import db_rows, log_in, on_screen, screen_text, token_of, type_keys, wait_for
    from tui.app import DutyApp

    app = DutyApp(desk_dir, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, on_screen(pilot, "LoginScreen"))
        for scanned in (token_of(desk_dir, "3-2-501"), "11010519491231002X", "13800138000", "365"):
            await type_keys(pilot, scanned + "\r")
            await pilot.pause(0.1)
            assert "type your PIN first" in screen_text(app)
        assert db_rows(desk_dir, "SELECT pin_failures FROM kiosk_state")[0][0] == 0
        await log_in(pilot)  # and the right PIN still opens the desk at once
