"""What a scanner (or a terminal) can send besides digits: keys that are not text inside a
burst, the editing keys by hand, and, through a real pseudo-terminal, an escape sequence in a
scanned code and a byte that is not UTF-8."""

from __future__ import annotations

import os
import sys
import time

import pytest
from textual import events

from tests.tui.conftest import log_in, scan, screen_text, settle, token_of, type_keys, wait_for
from tui.app import DutyApp


def scan_line(app):
    return app.screen.query_one("#scan-line")


def post_keys(app, keys):
    """Keys as the driver delivers a burst: all at once, in order."""
    for key, char in keys:
        app.post_message(events.Key(key, char))


def text_keys(text):
    return [(ch, ch) for ch in text]


class TestKeysInsideABurst:
    async def test_a_function_key_inside_a_scan_is_dropped_and_the_scan_goes_through(self, desk_dir):
        """ESC [ 2 0 ~ in a QR code reaches the app as F9 (handover, the end of the shift)."""
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            token = token_of(desk_dir, "3-2-501")
            half = len(token) // 2
            post_keys(app, [*text_keys(token[:half]), ("f9", None), *text_keys(token[half:]), ("enter", "\r")])
            await settle(pilot)
            assert type(app.screen).__name__ == "DutyScreen", "F9 inside a scan must not open the handover"
            assert app.screen.waiting is not None and app.screen.waiting.unit == "3-2-501"

    async def test_escape_and_arrows_inside_a_burst_do_not_cancel_or_move(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            # The temperature from a keypad that also sends Esc and an arrow in the same burst.
            post_keys(app, [("3", "3"), ("escape", "\x1b"), ("6", "6"), ("left", None), ("5", "5"), ("enter", "\r")])
            await settle(pilot)
            assert app.screen.waiting is None
            assert "Saved" in screen_text(app) and "3-2-501" in screen_text(app)
            from tests.tui.conftest import db_rows

            assert db_rows(desk_dir, "SELECT temp_raw FROM passage ORDER BY device_time DESC LIMIT 1")[0][0] == "365"

    async def test_an_escape_sequence_at_the_start_of_a_scan_presses_no_key(self, desk_dir):
        """A code that BEGINS with ESC [ 2 0 ~ (F9: the handover) or ESC (cancel): on an empty line
        the key is held, and the scan right behind it drops it."""
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            for first in (("f9", None), ("escape", "\x1b"), ("f4", None)):
                post_keys(app, [first, *text_keys(token_of(desk_dir, "3-2-501")), ("enter", "\r")])
                await settle(pilot)
                await pilot.pause(0.2)  # longer than the hold: a held key would have been let through
                assert type(app.screen).__name__ == "DutyScreen", f"{first[0]} opened {type(app.screen).__name__}"
                assert app.screen.direction == "in", "F4 at the start of a scan must not turn the gate round"
                assert app.screen.waiting is not None and app.screen.waiting.unit == "3-2-501"
                post_keys(app, [*text_keys("365"), ("enter", "\r")])
                await settle(pilot)
                assert app.screen.waiting is None

    async def test_a_code_of_nothing_but_an_escape_sequence_presses_no_key(self, desk_dir):
        """A self-made QR holding only ESC [ 2 0 ~ : the scanner's own Enter follows it."""
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            post_keys(app, [("f9", None), ("enter", "\r")])
            await settle(pilot)
            await pilot.pause(0.2)
            assert type(app.screen).__name__ == "DutyScreen"

    async def test_ctrl_q_inside_a_scan_does_not_open_the_pin_dialog(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            token = token_of(desk_dir, "3-2-501")
            post_keys(app, [*text_keys(token[:9]), ("ctrl+q", "\x11"), *text_keys(token[9:]), ("enter", "\r")])
            await settle(pilot)
            await pilot.pause(0.2)
            assert type(app.screen).__name__ == "DutyScreen", "Ctrl+Q inside a scan opened the PIN dialog"
            assert app.screen.waiting is not None and app.screen.waiting.unit == "3-2-501"
            # By hand it still asks for the supervisor's PIN.
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen.waiting is None)
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "SupervisorPinScreen")


class TestKeysByHand:
    async def test_a_function_key_after_a_pause_still_works_with_text_on_the_line(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            await type_keys(pilot, "36")
            await pilot.pause(0.3)  # a hand, not a scanner
            await pilot.press("f4")
            await pilot.pause(0.05)
            assert app.screen.direction == "out"
            assert scan_line(app).value == "36"

    async def test_a_function_key_on_an_empty_line_works_at_once(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            await pilot.press("f9")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "HandoverScreen")

    async def test_arrows_home_end_and_delete_edit_where_the_cursor_is(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            line = scan_line(app)
            await type_keys(pilot, "3-501")
            # By hand: a pause before each editing key (one that came with the typed keys, in
            # the same burst, would be taken for part of a scan and dropped).
            for key in ["left", "left", "left", "2", "-"]:
                await pilot.pause(0.2)
                await pilot.press(key)
            assert line.value == "3-2-501" and line.cursor_position == 4
            for key in ["home", "delete", "3", "end", "backspace"]:
                await pilot.pause(0.2)
                await pilot.press(key)
            assert line.value == "3-2-50" and line.cursor_position == 6

    async def test_a_long_line_scrolls_back_to_its_start_and_a_click_places_the_cursor(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            line = scan_line(app)
            await type_keys(pilot, "ABCDEFG" + "1234567890" * 20 + "XYZ")
            await pilot.pause(0.2)
            assert "7890XYZ" in screen_text(app) and "ABCDEFG" not in screen_text(app)
            await pilot.press("home")
            await pilot.pause(0.05)
            assert "ABCDEFG" in screen_text(app) and "7890XYZ" not in screen_text(app)
            # The text starts after the border (1) and the padding (2): column 5 is the "C".
            await pilot.click(line, offset=(5, 1))
            await pilot.pause(0.2)
            await pilot.press("_")
            assert line.value.startswith("AB_CDEFG")

    async def test_full_width_digits_and_a_tab_end_one_scan(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            await type_keys(pilot, "３６５\t")
            await settle(pilot)
            assert app.screen.waiting is None and scan_line(app).has_focus
            assert "Saved" in screen_text(app)


# -- through a real terminal ---------------------------------------------------------------------


@pytest.fixture
def desk_in_a_terminal(desk_dir):
    """The desk started as a volunteer starts it, on a pseudo-terminal, logged in."""
    from tests.tui.conftest import desk_on_a_terminal
    from tui.strings import STRINGS

    en = STRINGS["en"]
    term = desk_on_a_terminal(desk_dir)
    try:
        term.wait_for(en["login.prompt"], timeout=120)
        mark = term.mark()
        term.type("1234\r")  # into the early PIN prompt, as a volunteer who does not wait
        term.wait_for(en["duty.ready"], timeout=60, since=mark)
        term.wait_for(en["duty.volunteer"].format(name="李建国"), timeout=60, since=mark)  # logged in
        yield term
    finally:
        term.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pseudo-terminal and Textual's Linux driver")
class TestThroughATerminal:
    def test_a_byte_that_is_not_utf8_does_not_end_the_desk(self, desk_in_a_terminal, desk_dir):
        from tui.strings import STRINGS

        term = desk_in_a_terminal
        os.write(term.master, b"\xff")
        # The desk must still take a scan after it: the proof that the byte was read and
        # survived (a dead input thread takes no keys, a panicked app ends).
        time.sleep(0.5)
        mark = term.mark()
        term.type(token_of(desk_dir, "3-2-501") + "\r")
        term.wait_for(STRINGS["en"]["duty.temp_prompt"][:20], timeout=60, since=mark)
        assert term.proc.poll() is None

    def test_an_escape_sequence_inside_a_scan_presses_no_function_key(self, desk_in_a_terminal, desk_dir):
        from tui.strings import STRINGS

        en = STRINGS["en"]
        term = desk_in_a_terminal
        token = token_of(desk_dir, "3-2-501")
        half = len(token) // 2
        mark = term.mark()
        os.write(term.master, token[:half].encode() + b"\x1b[20~" + token[half:].encode() + b"\r")
        term.wait_for(en["duty.temp_prompt"][:20], timeout=60, since=mark)
        # Then a temperature, saved: had F9 been pressed, the handover screen would have the keys.
        term.type("365\r")
        term.wait_for(en["duty.saved"], timeout=60, since=mark)
        assert en["hand.title"] not in term.screen_text[mark:]

    def test_an_escape_sequence_at_the_start_of_a_scan_presses_no_function_key(self, desk_in_a_terminal, desk_dir):
        from tui.strings import STRINGS

        en = STRINGS["en"]
        term = desk_in_a_terminal
        mark = term.mark()
        os.write(term.master, b"\x1b[20~" + token_of(desk_dir, "3-2-501").encode() + b"\r")
        term.wait_for(en["duty.temp_prompt"][:20], timeout=60, since=mark)
        term.type("365\r")
        term.wait_for(en["duty.saved"], timeout=60, since=mark)
        assert en["hand.title"] not in term.screen_text[mark:]


class TestFormsKeepKeyOrder:
    """Issue 14: the recheck dialog and the registration form turned `3 8 6 ⌫ 5` into 38.6."""

    async def test_backspace_inside_a_burst_in_the_recheck_dialog(self, desk_dir):
        from tests.tui.conftest import on_screen

        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            await scan(pilot, "385")
            await pilot.press("f5")
            await wait_for(pilot, on_screen(pilot, "FeverScreen"))
            post_keys(app, [("3", "3"), ("6", "6"), ("6", "6"), ("backspace", "\x08"), ("5", "5")])
            await settle(pilot)
            assert app.screen.query_one("#fever-reading").value == "365"

    async def test_backspace_inside_a_burst_in_the_registration_form(self, desk_dir):
        from tests.tui.conftest import on_screen

        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            await pilot.press("f2")
            await wait_for(pilot, on_screen(pilot, "RegisterScreen"))
            await wait_for(pilot, lambda: getattr(app.focused, "id", "") == "input-kind")
            field = app.focused
            field.value = ""
            post_keys(app, [("3", "3"), ("8", "8"), ("6", "6"), ("backspace", "\x08"), ("5", "5")])
            await settle(pilot)
            assert field.value == "385"
