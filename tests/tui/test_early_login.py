"""The PIN prompt drawn before the desk has loaded (tui/early_login.py, issue 17): on a Pi-class
board the desk takes seconds to draw its first frame, and the volunteer should see where to
type at once, and lose nothing typed meanwhile."""

from __future__ import annotations

import os
import sys
import termios
import time

import pytest

from tests.tui.conftest import db_rows, on_screen, screen_text, token_of, wait_for
from tui.early_login import EarlyLogin, typed


class TestTyped:
    def test_digits_backspace_and_enter(self):
        assert typed("", "12\x7f3") == ("13", False)
        assert typed("13", "4\r") == ("134", True)
        assert typed("", "\b\b1") == ("1", False)  # nothing to erase is no error

    def test_an_escape_sequence_is_not_typing(self):
        # An arrow or a function key pressed while the desk loads: its letters are no PIN digits.
        assert typed("12", "\x1b[A") == ("12", False)
        assert typed("12", "\x1b[20~") == ("12", False)


class TestThePromptOnAPty:
    def test_keys_are_shown_as_dots_and_the_terminal_is_given_back_as_it_was(self):
        master, slave = os.openpty()
        try:
            before = termios.tcgetattr(slave)
            prompt = EarlyLogin(["Volunteer log in", "East gate"], "Type your PIN and press Enter", slave, slave)
            prompt.start()
            assert termios.tcgetattr(slave)[3] & termios.ECHO == 0  # the terminal echoes nothing itself
            os.write(master, b"12\x7f34")
            drawn = _read_until(master, b"***")
            assert b"Type your PIN and press Enter" in drawn and b"East gate" in drawn
            os.write(master, b"\r")
            _wait(lambda: prompt.entered)
            assert prompt.stop() == "134\r"
            assert termios.tcgetattr(slave) == before
            # What is typed after the hand-over is left in the terminal for the desk.
            os.write(master, b"99\n")
            assert os.read(slave, 100) == b"99\n"
        finally:
            os.close(master)
            os.close(slave)

    def test_keys_after_enter_wait_in_the_terminal_for_the_desk(self):
        master, slave = os.openpty()
        try:
            prompt = EarlyLogin(["title"], "PIN", slave, slave)
            prompt.start()
            os.write(master, b"5678\r")
            _wait(lambda: prompt.entered)
            os.write(master, b"365\n")  # the first temperature, typed before the desk is up
            time.sleep(0.1)
            assert prompt.stop() == "5678\r"
            assert os.read(slave, 100) == b"365\n"
        finally:
            os.close(master)
            os.close(slave)


class TestTheLoginScreenTakesWhatWasTyped:
    async def test_a_pin_and_enter_typed_while_loading_opens_the_shift(self, desk_dir):
        from tui.app import DutyApp

        app = DutyApp(desk_dir, lang="en")
        app.typed_ahead = "1234\r"
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.volunteer is not None)
            assert app.volunteer.name == "李建国"
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))

    async def test_a_pin_without_enter_waits_in_the_field(self, desk_dir):
        from textual.widgets import Input

        from tui.app import DutyApp

        app = DutyApp(desk_dir, lang="en")
        app.typed_ahead = "12"
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, on_screen(pilot, "LoginScreen"))
            await pilot.pause(0.2)
            assert app.screen.query_one("#login-pin", Input).value == "12"
            assert app.volunteer is None
            for key in "34":
                await pilot.press(key)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.volunteer is not None)

    async def test_a_scan_typed_while_loading_is_no_wrong_pin(self, desk_dir):
        from tui.app import DutyApp

        app = DutyApp(desk_dir, lang="en")
        app.typed_ahead = token_of(desk_dir, "3-2-501") + "\r"
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: "type your PIN first" in screen_text(app))
            assert app.volunteer is None
        assert db_rows(desk_dir, "SELECT pin_failures FROM kiosk_state")[0][0] == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pseudo-terminal and Textual's Linux driver")
def test_the_prompt_comes_before_the_desk_and_a_pin_typed_into_it_logs_in(desk_dir):
    """`kakou kiosk` on a terminal: the PIN prompt is drawn before the desk's first frame (no
    key bar yet), and a PIN typed into it at once opens the shift once the desk is up."""
    from tests.tui.conftest import desk_on_a_terminal
    from tui.strings import STRINGS

    en = STRINGS["en"]
    term = desk_on_a_terminal(desk_dir)
    try:
        term.wait_for(en["login.prompt"], timeout=120)
        assert en["duty.ready"] not in term.screen_text  # the desk's own frame has not come yet
        mark = term.mark()
        term.type("1234\r")
        term.wait_for(en["duty.ready"], timeout=60, since=mark)
        term.wait_for(en["duty.volunteer"].format(name="李建国"), timeout=30, since=mark)  # the status bar
        assert term.proc.poll() is None
    finally:
        term.close()


def _read_until(fd: int, needle: bytes, timeout: float = 10.0) -> bytes:
    import select

    got = b""
    end = time.monotonic() + timeout
    while needle not in got:
        left = end - time.monotonic()
        assert left > 0, f"{needle!r} never came: {got[-200:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            got += os.read(fd, 4096)
    return got


def _wait(condition, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)
