"""The duty desk with a serial scanner: a pty pair stands in for /dev/ttyACM0. Its codes go the
way a typed scan goes, the keyboard keeps working beside it, and an unplugged scanner is a word
on the status bar until it is back."""

from __future__ import annotations

from tests.test_scanner import FakeScanner
from tests.tui.conftest import db_rows, log_in, scan, screen_text, settle, token_of, type_keys, wait_for
from tui.app import DutyApp
from tui.settings import KioskSettings


def passages(data_dir):
    return db_rows(data_dir, "SELECT unit_code, temp_raw FROM passage ORDER BY device_time")


def scanner_word(app) -> str:
    part = app.screen.query_one("#status-scanner")
    return str(part.content) if part.has_class("scanner-gone") else ""


async def test_a_serial_code_goes_the_way_a_typed_one_does_and_the_keyboard_still_works(desk_dir, tmp_path):
    fake = FakeScanner(tmp_path)
    try:
        before = len(passages(desk_dir))
        app = DutyApp(desk_dir, lang="en", settings=KioskSettings(scanner=f"serial:{fake.path}?baud=9600"))
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            await wait_for(pilot, lambda: app.scanner_state == "ok")
            # one write, CR+LF, as a scanner in serial mode sends it
            fake.send(token_of(desk_dir, "3-2-501").encode() + b"\r\n")
            await wait_for(pilot, lambda: app.screen.waiting is not None)
            assert app.screen.waiting.unit == "3-2-501"
            await type_keys(pilot, "365\r")  # the temperature on the keyboard
            await settle(pilot)
            assert passages(desk_dir)[before:] == [("3-2-501", "365")]
            # the keyboard path beside it: a scan typed into the scan line
            await scan(pilot, token_of(desk_dir, "1-1-101"))
            await type_keys(pilot, "366\r")
            await settle(pilot)
            # and a serial code in pieces, then another right behind it
            token = token_of(desk_dir, "2-1-301")
            fake.send(token[:100].encode())
            await pilot.pause(0.01)
            fake.send(token[100:].encode() + b"\r")
            await wait_for(pilot, lambda: app.screen.waiting is not None and app.screen.waiting.unit == "2-1-301")
            await type_keys(pilot, "367\r")
            await settle(pilot)
            assert passages(desk_dir)[before:] == [("3-2-501", "365"), ("1-1-101", "366"), ("2-1-301", "367")]
    finally:
        fake.close()


async def test_an_unplugged_scanner_is_a_word_on_the_status_bar_until_it_is_back(desk_dir, tmp_path, monkeypatch):
    fake = FakeScanner(tmp_path)
    monkeypatch.setenv("KAKOU_SCANNER", f"serial:{fake.path}")  # the environment names it
    try:
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            await wait_for(pilot, lambda: app.scanner_state == "ok")
            assert scanner_word(app) == ""
            fake.unplug()
            await wait_for(pilot, lambda: scanner_word(app) == "扫码枪断开")
            assert "扫码枪断开" in screen_text(app).splitlines()[0]
            fake.plug()
            await wait_for(pilot, lambda: app.scanner_state == "ok")
            assert scanner_word(app) == ""
            before = len(passages(desk_dir))
            fake.send(token_of(desk_dir, "3-2-501").encode() + b"\r")  # and it is read again
            await wait_for(pilot, lambda: app.screen.waiting is not None)
            await type_keys(pilot, "365\r")
            await settle(pilot)
            assert passages(desk_dir)[before:] == [("3-2-501", "365")]
    finally:
        fake.close()


async def test_a_serial_code_while_nobody_is_logged_in_is_not_used(desk_dir, tmp_path):
    fake = FakeScanner(tmp_path)
    try:
        before = len(passages(desk_dir))
        app = DutyApp(desk_dir, lang="en", settings=KioskSettings(scanner=f"serial:{fake.path}"))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.scanner_state == "ok" and type(app.screen).__name__ == "LoginScreen")
            bells = app.bells
            fake.send(token_of(desk_dir, "3-2-501").encode() + b"\r")
            await wait_for(pilot, lambda: app.bells > bells)
            assert type(app.screen).__name__ == "LoginScreen"
            assert app.screen.query_one("Input").value == ""  # not typed into the PIN field
            await log_in(pilot)
            await settle(pilot)
            assert app.screen.waiting is None  # the code was not kept for later either
            assert len(passages(desk_dir)) == before
    finally:
        fake.close()
