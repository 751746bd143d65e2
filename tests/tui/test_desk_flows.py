"""Fever, registration, lockout, handover, quitting: the duty desk's other flows."""

from __future__ import annotations

import pytest

from tests.tui.conftest import db_rows, log_in, on_screen, scan, screen_text, settle, token_of, type_keys, wait_for
from tui.app import DutyApp


def count(data_dir, table: str, where: str = "1=1", *params) -> int:
    return db_rows(data_dir, f"SELECT count(*) FROM {table} WHERE {where}", *params)[0][0]


class TestFever:
    @pytest.mark.parametrize(
        "second, key, outcome", [("365", None, "allowed"), ("381", "f6", "clinic"), ("379", "f7", "home")]
    )
    async def test_fever_recheck_to_each_outcome(self, desk_dir, second, key, outcome):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            duty = await log_in(pilot)
            passages_before = count(desk_dir, "passage")
            await scan(pilot, token_of(desk_dir, "3-2-501"))
            bells = app.bells
            await scan(pilot, "385")
            assert app.bells > bells, "a fever rings the bell"
            assert count(desk_dir, "fever_case", "first_raw = '385' AND unit_code = '3-2-501'") == 1
            assert count(desk_dir, "passage") == passages_before, "the person waits: no passage yet"
            text = screen_text(app)
            assert "发热" in text and "[!]" in text and "发热待复测 3-2-501" in text
            assert "还需等 0" in text  # the recheck countdown, in the log

            await pilot.press("f5")
            await wait_for(pilot, on_screen(pilot, "FeverScreen"))
            await type_keys(pilot, second + "\r")
            if key:
                await pilot.pause(0.1)
                assert "仍发热" in screen_text(app)
                await pilot.press(key)
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            await settle(pilot)
            rows = db_rows(
                desk_dir,
                "SELECT o.outcome, o.second_raw FROM fever_outcome o JOIN fever_case c"
                " ON c.record_id = o.case_id WHERE c.unit_code = '3-2-501'",
            )
            assert rows == [(outcome, second)]
            allowed_passages = count(desk_dir, "passage", "unit_code = '3-2-501' AND verdict = 'allow'")
            assert allowed_passages == (1 if outcome == "allowed" else 0)
            assert duty.fevers == []
            assert "发热待复测" not in screen_text(app)
            assert duty.scan_line.has_focus

    async def test_recheck_with_nobody_waiting_says_so(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await pilot.press("f5")
            assert "Nobody is waiting for a recheck" in screen_text(app)


class TestRegistration:
    async def _open_form(self, pilot):
        await pilot.press("f2")
        await wait_for(pilot, on_screen(pilot, "RegisterScreen"))
        # The form takes keys once its first field has the focus (a loaded machine is slow to get there).
        await wait_for(pilot, lambda: getattr(pilot.app.focused, "id", "") == "input-kind")
        return pilot.app.screen

    async def _fill(self, pilot, values: list[str]):
        for v in values:
            await type_keys(pilot, v + "\r")
            await pilot.pause(0.02)

    @pytest.mark.parametrize(
        "field, values, words",
        [
            ("kind", ["9"], "Type a number from 1 to 5"),
            ("phone", ["1", "", "12345"], "A mobile number has 11 digits"),
            ("phone", ["1", "", ""], "A phone number is needed"),
            ("id_number", ["1", "", "13800138000", "110105194912310021"], "ID check digit wrong"),
            ("id_number", ["2", "", "13800138000", ""], "A returnee needs an ID number"),
            ("to_unit", ["1", "", "13800138000", "", "Wuhan", ""], "Which unit are they visiting?"),
            ("to_unit", ["1", "", "13800138000", "", "Wuhan", "blah"], "Unit not recognised"),
            ("temperature", ["1", "", "13800138000", "", "Wuhan", "3-2-501", "visit", "98.6"], "looks like Fahrenheit"),
            ("temperature", ["1", "", "13800138000", "", "Wuhan", "3-2-501", "visit", ""], "Take the temperature"),
        ],
    )
    async def test_each_validation_error_stays_on_its_field(self, desk_dir, field, values, words):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            form = await self._open_form(pilot)
            await self._fill(pilot, values)
            bad = form.query_one(f"#field-{field}")
            assert words in str(bad.query_one(f"#error-{field}").render())
            assert bad.input.has_focus, "the refused field keeps the focus"
            assert count(desk_dir, "registration") == 0

    async def test_a_complete_registration_is_saved_masked(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            await self._open_form(pilot)
            await self._fill(pilot, ["1", "张三", "138 0013 8000", "", "上海", "3-2-501", "探亲", "366"])
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            await settle(pilot)
            rows = db_rows(
                desk_dir, "SELECT kind, name, phone_masked, to_unit, temp_value, from_place FROM registration"
            )
            assert rows == [("visitor", "张三", "*" * 11, "3-2-501", 36.6, "上海")]
            assert "登记已保存" in screen_text(app)
            assert app.screen.scan_line.has_focus

    async def test_an_unknown_id_number_opens_the_form_filled_in(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await scan(pilot, "11010519491231002X")
            await wait_for(pilot, on_screen(pilot, "RegisterScreen"))
            form = app.screen
            assert form.query_one("#field-id_number").value == "11010519491231002X"
            await pilot.press("escape")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            assert count(desk_dir, "registration") == 0

    async def test_a_scanned_id_on_the_quarantine_list_is_said_before_anything_else(self, desk_dir):
        """The office's person lists hold only hashes: a scanned ID number is matched against them
        at the desk, and the look-up says so (it used to open an empty registration form)."""
        from models.lookup import person_hashes
        from models.store import KioskStore

        store = KioskStore.open(desk_dir)
        store.add_list_entry("quarantine", person_hash=person_hashes(store, "id", "11010519491231002X")[0])
        store.engine.dispose()
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await scan(pilot, "11010519491231002X")
            await wait_for(pilot, on_screen(pilot, "LookupScreen"))
            text = screen_text(app)
            assert "名单：居家隔离" in text and "没有登记过" in text
            await pilot.press("escape")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            await scan(pilot, "110105198001010016")  # not listed, never seen: straight to the form
            await wait_for(pilot, on_screen(pilot, "RegisterScreen"))

    async def test_a_returnee_is_offered_the_entry_slip(self, desk_dir, monkeypatch):
        opened = []
        from tui.screens import duty

        monkeypatch.setattr(duty.DutyScreen, "offer_issue_pass", lambda self, **kw: opened.append(kw))
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await self._open_form(pilot)
            await self._fill(
                pilot, ["2", "张伟", "13800138000", "11010519491231002X", "武汉", "3-2-501", "返乡", "365"]
            )
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            await settle(pilot)
            # The entry slip is offered with the unit and the name already in it.
            assert opened == [{"unit": "3-2-501", "kind": "returnee", "name": "张伟"}]
            assert db_rows(desk_dir, "SELECT kind, id_masked FROM registration") == [("returnee", "*" * 18)]


class TestLogin:
    async def test_wrong_pins_lock_out_with_a_countdown(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, on_screen(pilot, "LoginScreen"))
            for _ in range(3):
                await type_keys(pilot, "0000\r")
                await wait_for(pilot, lambda: "Checking" not in screen_text(app))
            text = screen_text(app)
            assert "locked for 30 s" in text or "try again in" in text
            await pilot.pause(1.1)
            assert "try again in" in screen_text(app)
            # The right PIN does not open the desk while locked out.
            await type_keys(pilot, "1234\r")
            await pilot.pause(0.3)
            assert type(app.screen).__name__ == "LoginScreen" and app.volunteer is None
            assert db_rows(desk_dir, "SELECT pin_failures FROM kiosk_state")[0][0] == 3

    async def test_login_records_the_shift_and_lock_needs_a_pin(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot, "5678")
            assert app.volunteer.name == "陈晓"
            assert count(desk_dir, "shift_event", "event = 'on'") == 1
            await pilot.press("f12")
            await wait_for(pilot, on_screen(pilot, "LoginScreen"))
            assert "屏幕已锁定" in screen_text(app)
            await type_keys(pilot, "5678\r")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            assert count(desk_dir, "shift_event", "event = 'on'") == 1, "unlocking is not a new shift"


class TestHandover:
    async def test_a_fever_waiting_from_an_earlier_shift_is_handed_over(self, desk_dir):
        """Issue 14: the handover said "waiting 0" while someone from the last shift waited outside."""
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            await scan(pilot, token_of(desk_dir, "5-1-102"))
            await scan(pilot, "388")  # waits for the recheck; then this shift ends
            await pilot.press("f9")
            await wait_for(pilot, lambda: "Shift" in screen_text(app))
            assert "waiting 1" in screen_text(app)
            await type_keys(pilot, "\r")
            await wait_for(pilot, on_screen(pilot, "LoginScreen"))
            await log_in(pilot, "5678")  # the next volunteer's shift: no fever of its own yet
            await pilot.press("f9")
            await wait_for(pilot, lambda: "Shift" in screen_text(app))
            text = screen_text(app)
            assert "Fevers 0:" in text and "waiting 1" in text, text
            assert "Still waiting for a recheck" in text and "5-1-102" in text

    async def test_summary_numbers_equal_the_records(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            await log_in(pilot)
            for unit in ("3-2-501", "3-2-502", "1-1-101"):
                await scan(pilot, token_of(desk_dir, unit))
                await scan(pilot, "365")
            await scan(pilot, token_of(desk_dir, "4-2-201"))  # revoked: turned back
            await pilot.press("f4")
            await scan(pilot, token_of(desk_dir, "2-1-302"))  # quarantined: may not go out
            await scan(pilot, token_of(desk_dir, "5-1-101"))  # out, no temperature needed
            await pilot.press("f4")
            await scan(pilot, token_of(desk_dir, "5-1-102"))
            await scan(pilot, "388")  # a fever, still waiting
            await pilot.press("f9")
            await wait_for(pilot, lambda: "In " in screen_text(app) and "Shift" in screen_text(app))
            start = app.shift_started
            rows = dict(
                ((d, v), n)
                for d, v, n in db_rows(
                    desk_dir,
                    "SELECT direction, verdict, count(*) FROM passage WHERE device_time >= ?"
                    " GROUP BY direction, verdict",
                    start,
                )
            )
            n_in, n_out = rows.get(("in", "allow"), 0), rows.get(("out", "allow"), 0)
            back = sum(n for (d, v), n in rows.items() if v != "allow")
            assert (n_in, n_out, back) == (3, 1, 2)
            pending = count(desk_dir, "outbox", "seq > (SELECT acked_seq FROM kiosk_state)")
            text = screen_text(app)
            assert f"In {n_in}  out {n_out}  turned back {back}" in text
            assert "Fevers 1:" in text and "waiting 1" in text, text
            assert "pass revoked 1" in text and "home quarantine" in text
            assert f"Records waiting for sync: {pending}" in text
            await type_keys(pilot, "gate lamp is broken\r")
            await wait_for(pilot, on_screen(pilot, "LoginScreen"))
            assert "Handed over" in screen_text(app)
            note, summary = db_rows(desk_dir, "SELECT note, summary FROM shift_event WHERE event = 'off'")[0]
            assert note == "gate lamp is broken" and '"turned_back": 2' in summary
            assert app.volunteer is None
            await type_keys(pilot, "5678\r")
            await wait_for(pilot, lambda: app.volunteer is not None)
            assert app.volunteer.name == "陈晓"


class TestQuit:
    async def test_quitting_needs_a_supervisor_pin(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await pilot.press("ctrl+q")
            await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
            await type_keys(pilot, "1234\r")
            await wait_for(pilot, lambda: "not a supervisor" in screen_text(app))
            assert app.is_running
            await pilot.press("escape")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            await pilot.press("ctrl+q")
            await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
            await type_keys(pilot, "888888\r")
            await wait_for(pilot, lambda: not app.is_running or app._exit_renderables is not None, timeout=10)
        assert app.return_code == 0
        assert count(desk_dir, "audit_event", "action = 'quit'") == 1

    async def test_issue_pass_asks_for_a_supervisor(self, desk_dir):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await pilot.press("f7")
            try:
                import tui.screens.issue_pass  # noqa: F401
            except ImportError:
                assert "not installed" in screen_text(app)
                return
            await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
            await wait_for(pilot, lambda: "Issuing a pass needs a supervisor PIN" in screen_text(app))
