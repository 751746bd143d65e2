"""A scanner's burst reaches the app as one message (tui/driver.py): the driver folds the
printable keys the terminal sent together into one KeyBurst, the app hands it to the focused scan
line in one piece, and anything else still sees every key, in order."""

from __future__ import annotations

import asyncio
import threading

import pytest
from textual import events

from tests.tui.conftest import db_rows, log_in, screen_text, settle, token_of, wait_for
from tui.app import DutyApp
from tui.driver import KeyBurst, coalesce_keys, survive_bad_bytes


def keys(text: str) -> list[events.Key]:
    return [events.Key(ch, ch) for ch in text]


class TestCoalesce:
    def test_printable_runs_become_one_burst_and_the_rest_keeps_its_place(self):
        f9, enter = events.Key("f9", None), events.Key("enter", "\r")
        out = coalesce_keys([*keys("123"), f9, *keys("45"), enter, *keys("6")])
        assert [type(m).__name__ for m in out] == ["KeyBurst", "Key", "KeyBurst", "Key", "Key"]
        assert out[0].text == "123" and out[2].text == "45"
        assert out[1] is f9 and out[3] is enter and out[4].key == "6"

    def test_a_key_alone_stays_a_key(self):
        one = events.Key("7", "7")
        assert coalesce_keys([one]) == [one]


class _App:
    """What the driver needs of an app: it records what is posted, and on which thread."""

    def __init__(self):
        self.posted: list = []

    def post_message(self, message) -> bool:
        self.posted.append((message, threading.current_thread()))
        return True


def _driver(app):
    from textual.drivers.linux_driver import LinuxDriver

    return survive_bad_bytes(LinuxDriver)(app)


async def test_the_driver_sends_a_scanned_pass_as_one_burst_then_its_enter():
    """260 digits and Enter from the input thread: two messages for the app, not 261, posted on
    the event loop, in order."""
    app = _App()
    try:
        driver = _driver(app)
    except (OSError, ValueError) as exc:  # no terminal on stdin here
        pytest.skip(f"the Linux driver cannot be made here: {exc}")
    digits = "9" * 260

    def input_thread():
        for key in [*keys(digits), events.Key("enter", "\r")]:
            driver.send_message(key)

    thread = threading.Thread(target=input_thread)
    thread.start()
    thread.join()
    for _ in range(20):
        await asyncio.sleep(0)
    assert [type(m).__name__ for m, _ in app.posted] == ["KeyBurst", "Key"]
    burst, enter = app.posted[0][0], app.posted[1][0]
    assert burst.text == digits and enter.key == "enter"
    assert all(t is threading.main_thread() for _, t in app.posted)


def post_burst(app, text: str, terminator: str | None = "enter") -> None:
    """As the driver delivers a burst the loop took in one go."""
    app.post_message(KeyBurst(keys(text)))
    if terminator:
        app.post_message(events.Key(terminator, "\r" if terminator == "enter" else None))


async def test_a_burst_on_the_scan_line_is_the_same_scan_as_its_keys(desk_dir):
    app = DutyApp(desk_dir, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        post_burst(app, token_of(desk_dir, "3-2-501"))
        await settle(pilot)
        # Posted messages may reach the scan line after settle() found the queue empty (a
        # loaded machine): wait for the outcome itself.
        await wait_for(pilot, lambda: app.screen.waiting is not None and app.screen.waiting.unit == "3-2-501")
        # Full-width digits from a Chinese IME arrive NFKC-normalised, as key by key.
        post_burst(app, "３６５")
        await settle(pilot)
        await wait_for(pilot, lambda: app.screen.waiting is None and "Saved" in screen_text(app))
        assert db_rows(desk_dir, "SELECT temp_raw FROM passage ORDER BY rowid DESC LIMIT 1")[0][0] == "365"


async def test_a_burst_right_after_a_held_key_drops_that_key(desk_dir):
    """A code that begins with ESC [ 2 0 ~ (F9) and then comes as a burst: F9 must not open the handover."""
    app = DutyApp(desk_dir, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        app.post_message(events.Key("f9", None))
        post_burst(app, token_of(desk_dir, "3-2-501"))
        await settle(pilot)
        await pilot.pause(0.2)  # longer than the hold: a held key would have been let through
        assert type(app.screen).__name__ == "DutyScreen"
        assert app.screen.waiting is not None and app.screen.waiting.unit == "3-2-501"


async def test_a_burst_into_the_pin_field_types_every_key(desk_dir):
    """Not the scan line (the login's PIN field): each key goes through the app as if alone."""
    app = DutyApp(desk_dir, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        from tests.tui.conftest import wait_for

        await wait_for(pilot, lambda: type(app.screen).__name__ == "LoginScreen" and app.store is not None)
        post_burst(app, "1234")
        await wait_for(pilot, lambda: app.volunteer is not None)
        assert app.volunteer.name == "李建国"


async def test_a_priority_binding_on_a_printable_key_still_fires_inside_a_burst(desk_dir):
    """A site keymap that puts a priority binding on a printable key: the burst goes key by key."""
    app = DutyApp(desk_dir, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        fired = []
        app.action_ignore = lambda: fired.append(True)  # the priority Ctrl+C binding's action
        app.set_keymap({"ignore_ctrl_c": "x"})
        post_burst(app, "12x34", terminator=None)
        await settle(pilot)
        assert fired == [True]
        assert app.screen.query_one("#scan-line").value == "1234"
