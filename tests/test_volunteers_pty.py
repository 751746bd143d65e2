"""`kakou volunteer add` at a real terminal (a pseudo-terminal): the PINs are asked one after
the other, never echoed, and the new volunteer can log in (issue 14)."""

from __future__ import annotations

import os
import select
import sys
import time

import pytest

pty = pytest.importorskip("pty")


def _read_until(fd: int, wanted: str, seen: list[str], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while wanted not in "".join(seen):
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {wanted!r} on the terminal; it showed:\n{''.join(seen)}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            chunk = b""
        if not chunk:
            raise AssertionError(f"the command ended before {wanted!r}; it showed:\n{''.join(seen)}")
        seen.append(chunk.decode("utf-8", "replace"))


def _drain(fd: int, seen: list[str]) -> None:
    while True:
        ready, _, _ = select.select([fd], [], [], 5)
        if not ready:
            return
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return
        if not chunk:
            return
        seen.append(chunk.decode("utf-8", "replace"))


def test_volunteer_add_at_a_terminal_asks_three_pins_without_echo(store):
    from models.volunteers import add_volunteer, login

    add_volunteer(store, "王秀英", "888888", "supervisor")
    argv = [sys.executable, "-m", "tui.cli", "volunteer", "add", "张三", "--data-dir", str(store.data_dir)]
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal, as in a shell
        try:
            os.execv(sys.executable, argv)
        finally:
            os._exit(127)
    seen: list[str] = []
    try:
        _read_until(fd, "supervisor PIN", seen)
        os.write(fd, b"888888\r")
        _read_until(fd, "new PIN (4-8 digits)", seen)
        os.write(fd, b"246813\r")
        _read_until(fd, "the new PIN again", seen)
        os.write(fd, b"246813\r")
        _read_until(fd, "added", seen)
        _drain(fd, seen)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    shown = "".join(seen)
    assert os.waitstatus_to_exitcode(status) == 0, shown
    assert "888888" not in shown and "246813" not in shown, "a PIN was echoed"
    assert login(store, "246813").name == "张三"
