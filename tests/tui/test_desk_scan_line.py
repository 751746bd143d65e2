"""The scan line and the log under a long shift: what a burst leaves on screen, what the
keys after it act on, and that the log stays the newest rows only."""

from __future__ import annotations

from textual import events

from tests.tui.conftest import db_rows, log_in, scan, screen_text, settle, token_of, type_keys, wait_for
from tui.app import DutyApp


def scan_line(app):
    return app.screen.query_one("#scan-line")


def last_passage(data_dir):
    return db_rows(data_dir, "SELECT unit_code, temp_raw FROM passage ORDER BY device_time DESC LIMIT 1")[0]


class TestTypedKeys:
    async def test_a_burst_without_terminator_shows_on_the_line_and_its_end_is_in_view(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            digits = "".join(str(i % 10) for i in range(1, 201)) + "XYZ"
            await type_keys(pilot, digits)  # all keys at once, as fast as a scanner
            await wait_for(pilot, lambda: scan_line(app).value == digits)
            await pilot.pause(0.05)
            # 203 characters do not fit in 80 columns: the line scrolled to where the cursor is.
            assert "7890XYZ" in screen_text(app)

    async def test_keys_typed_by_hand_show_on_the_line(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await type_keys(pilot, "3")
            await pilot.pause(0.1)
            assert scan_line(app).value == "3"
            await type_keys(pilot, "6")
            await pilot.pause(0.1)
            assert scan_line(app).value == "36"

    async def test_backspace_right_after_a_burst_removes_the_last_key_of_it(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            # A slip on the keypad: 3655 and backspace come in at once; then Enter.
            for key, char in [("3", "3"), ("6", "6"), ("5", "5"), ("5", "5"), ("backspace", "\x7f")]:
                app.post_message(events.Key(key, char))
            await pilot.pause(0.1)
            assert scan_line(app).value == "365"
            await type_keys(pilot, "\r")
            await settle(pilot)
            assert scan_line(app).value == ""
            assert last_passage(desk_dir) == ("3-2-501", "365")

    async def test_backspace_and_enter_in_one_burst_apply_in_key_order(self, desk_dir):
        """A keypad or a macro sends 3655, Backspace and Enter faster than a frame: the
        reading saved is 365, not 3655 (Backspace must not wait behind the Enter)."""
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            for key, char in [("3", "3"), ("6", "6"), ("5", "5"), ("5", "5"), ("backspace", "\x7f"), ("enter", "\r")]:
                app.post_message(events.Key(key, char))
            await settle(pilot)
            assert last_passage(desk_dir) == ("3-2-501", "365")
            assert scan_line(app).value == ""

    async def test_a_stuck_key_stops_at_the_limit(self, desk_dir):
        from tui.widgets.scan_input import MAX_SCAN_CHARS

        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await type_keys(pilot, "7" * (MAX_SCAN_CHARS + 50))
            await pilot.pause(0.1)
            assert scan_line(app).value == "7" * MAX_SCAN_CHARS

    async def test_two_scans_in_one_burst_give_two_verdicts_in_order(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            first, second = token_of(desk_dir, "3-2-501"), token_of(desk_dir, "5-1-204")
            # Every key of both scans and of the temperature waiting at once, no gap anywhere.
            await type_keys(pilot, first + "\r" + second + "\r" + "366\r")
            await settle(pilot)
            assert "Previous person (3-2-501) had no temperature" in screen_text(app)
            assert last_passage(desk_dir) == ("5-1-204", "366")


class TestLog:
    async def test_keeps_the_newest_rows_only_and_paints_what_fits(self, desk_dir):
        from tui.widgets.passage_log import MAX_LINES

        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            log = app.screen.query_one("#passage-log")
            for i in range(MAX_LINES * 4):
                log.add(f"row {i:04d}")
            await pilot.pause(0.05)
            newest = MAX_LINES * 4 - 1
            assert len(log.entries) == MAX_LINES
            assert log.entries[0][1] == f"row {newest:04d}"
            assert log.entries[-1][1] == f"row {newest - MAX_LINES + 1:04d}"
            painted = log.visible_lines()
            assert len(painted) == log.size.height < MAX_LINES
            text = screen_text(app)
            assert f"row {newest:04d}" in text and f"row {newest - len(painted):04d}" not in text

    async def test_a_taller_screen_shows_more_rows(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            log = app.screen.query_one("#passage-log")
            for i in range(40):
                log.add(f"row {i:04d}")
            await pilot.pause(0.05)
            short = len(log.visible_lines())
            await pilot.resize_terminal(80, 34)
            await pilot.pause(0.1)
            assert len(log.visible_lines()) == short + 10
            assert f"row {39 - short - 5:04d}" in screen_text(app)

    async def test_fevers_stay_on_top_of_a_full_log(self, desk_dir):
        import time

        from tui.screens.duty import FeverWait

        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            log = app.screen.query_one("#passage-log")
            for i in range(60):
                log.add(f"row {i:04d}")
            app.screen.add_fever_wait(FeverWait("case-1", "3-2-501", "38.2", "in", time.time()))
            await pilot.pause(0.05)
            style, first = log.visible_lines()[0]
            assert style == "bold red" and "3-2-501" in first and "38.2" in first
            assert "row 0059" in screen_text(app) and first.strip()[:20] in screen_text(app)

    async def test_after_a_restart_readings_look_as_they_did_when_saved(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            await scan(pilot, "365")
            live = app.screen.query_one("#passage-log").entries[0][1]
        assert live.endswith("3-2-501 ALLOW 36.5")
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            assert app.screen.query_one("#passage-log").entries[0][1] == live

    async def test_after_a_restart_a_waiting_fever_shows_its_reading_not_the_keys(self, desk_dir):
        """Issue 14: after a restart the fever waiting for its recheck showed "380度"."""
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            await scan(pilot, "380度")
            assert app.screen.fevers[0].first == "38.0"
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            assert [f.first for f in app.screen.fevers] == ["38.0"]
            assert "380度" not in screen_text(app)


class TestVerdictPanel:
    async def test_each_change_shows_and_going_back_shows_the_first_again(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            panel = app.screen.query_one("#verdict")
            panel.show("allow", "ALLOW", ["3-2-501 resident"], "Measure temperature")
            await pilot.pause(0.05)
            assert "ALLOW" in screen_text(app) and "Measure temperature" in screen_text(app)
            panel.set_status("Saved")
            await pilot.pause(0.05)
            text = screen_text(app)
            assert "ALLOW" in text and "Saved" in text and "Measure temperature" not in text
            panel.show("deny", "DENY", ["revoked"])
            await pilot.pause(0.05)
            text = screen_text(app)
            assert "DENY" in text and "ALLOW" not in text and "Saved" not in text
            assert panel.has_class("verdict-deny") and not panel.has_class("verdict-allow")
            panel.show("allow", "ALLOW", ["3-2-501 resident"], "Measure temperature")
            await pilot.pause(0.05)
            text = screen_text(app)
            assert "ALLOW" in text and "Measure temperature" in text and "DENY" not in text


class TestPaste:
    """The demo's way in (paste the digits of DIR/demo-passes/<unit>.txt), and a terminal that
    hands a scan over as a bracketed paste."""

    async def test_a_pasted_pass_then_enter_is_one_scan(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            token = token_of(desk_dir, "3-2-501")
            app.post_message(events.Paste(token))
            await pilot.pause(0.05)
            assert scan_line(app).value == token
            await type_keys(pilot, "\r")
            await settle(pilot)
            assert app.screen.waiting is not None and app.screen.waiting.unit == "3-2-501"

    async def test_each_pasted_line_is_one_scan(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            first, second = token_of(desk_dir, "3-2-501"), token_of(desk_dir, "5-1-204")
            app.post_message(events.Paste(first + "\r\n" + second + "\n" + "36"))
            await settle(pilot)
            assert "Previous person (3-2-501) had no temperature" in screen_text(app)
            assert app.screen.waiting.unit == "5-1-204"
            assert scan_line(app).value == "36"
            await type_keys(pilot, "6\r")
            await settle(pilot)
            assert last_passage(desk_dir) == ("5-1-204", "366")
