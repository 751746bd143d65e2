"""Volunteers at the desk (issue 14): a volunteer added on the command line logs in with their
new PIN, disabled they are refused; every path to a pass asks the supervisor's PIN (the
returnee's offered pass too); the supervisor's volunteer screen; an old short supervisor PIN."""

from __future__ import annotations

import io

from tests.tui.conftest import db_rows, log_in, on_screen, screen_text, type_keys, volunteer_id, wait_for
from tui.app import DutyApp
from tui.cli import main


def cli(monkeypatch, capsys, *argv, stdin: str) -> tuple[int, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


async def pin_refused_at_the_lock(pilot, pin: str) -> str:
    await wait_for(pilot, on_screen(pilot, "LoginScreen"))
    await type_keys(pilot, pin + "\r")
    message = pilot.app.screen.query_one("#login-message")
    await wait_for(pilot, lambda: "PIN" in str(message.render()))
    return str(message.render())


class TestEndToEnd:
    async def test_added_on_the_command_line_logs_in_then_disabled_is_refused(self, desk_dir, monkeypatch, capsys):
        data = ("--data-dir", str(desk_dir))
        code, said = cli(monkeypatch, capsys, "volunteer", "add", "张三", *data, stdin="888888\n2468\n2468\n")
        assert code == 0, said
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot, "2468")
            assert app.volunteer.name == "张三"
            assert "张三" in screen_text(app)
            # Disabled from a shell while their shift is open: the next lock ends it.
            code, said = cli(monkeypatch, capsys, "volunteer", "disable", "张三", *data, stdin="888888\n")
            assert code == 0, said
            await pilot.press("f12")
            assert "PIN 不对" in await pin_refused_at_the_lock(pilot, "2468")
            assert type(app.screen).__name__ == "LoginScreen" and app.locked
            await type_keys(pilot, "1234\r")  # the next volunteer takes over
            await wait_for(pilot, lambda: app.volunteer is not None and app.volunteer.name == "李建国")
        zhang = volunteer_id(desk_dir, "张三")
        shifts = db_rows(desk_dir, "SELECT volunteer_id, event FROM shift_event ORDER BY rowid")
        assert (zhang, "on") in shifts and (zhang, "off") in shifts
        added = db_rows(desk_dir, "SELECT detail FROM audit_event WHERE action = 'volunteer_added'")
        assert any("张三" in d for (d,) in added)


class TestEveryPathToAPass:
    async def _register_returnee(self, pilot):
        await pilot.press("f2")
        await wait_for(pilot, on_screen(pilot, "RegisterScreen"))
        await wait_for(pilot, lambda: getattr(pilot.app.focused, "id", "") == "input-kind")
        for value in ["2", "张伟", "13800138000", "11010519491231002X", "武汉", "3-2-501", "返乡", "365"]:
            await type_keys(pilot, value + "\r")
            await pilot.pause(0.02)

    async def test_the_returnees_offered_pass_needs_the_supervisor_pin(self, desk_dir):
        """On main a volunteer went F2 -> returnee -> straight into the pass screen and could
        issue a 366-day resident pass there."""
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)  # 李建国, a volunteer
            await self._register_returnee(pilot)
            await wait_for(pilot, lambda: type(app.screen).__name__ in ("SupervisorPinScreen", "IssuePassScreen"))
            assert type(app.screen).__name__ == "SupervisorPinScreen"
            await wait_for(pilot, lambda: "办理通行证需要管理员 PIN" in screen_text(app))
            await type_keys(pilot, "1234\r")  # the volunteer's own PIN
            message = app.screen.query_one("#sup-message")
            await wait_for(pilot, lambda: "不是管理员" in str(message.render()))
            assert type(app.screen).__name__ == "SupervisorPinScreen"
            await type_keys(pilot, "888888\r")
            await wait_for(pilot, on_screen(pilot, "IssuePassScreen"))
            assert app.screen.volunteer.name == "王秀英"  # the pass is issued under the supervisor
            assert app.screen.prefill_kind == "returnee" and app.screen.prefill_unit == "3-2-501"
        refused = db_rows(desk_dir, "SELECT volunteer_id, detail FROM audit_event WHERE action = 'supervisor_refused'")
        assert [r[0] for r in refused] == [volunteer_id(desk_dir, "李建国")]
        assert '"command": "issue_pass"' in refused[0][1]


async def open_volunteers(pilot, pin: str = "888888"):
    await pilot.press("f8")
    await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
    await type_keys(pilot, pin + "\r")
    await wait_for(pilot, on_screen(pilot, "SettingsScreen"))
    await pilot.press("f3")
    await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
    await type_keys(pilot, pin + "\r")
    await wait_for(pilot, on_screen(pilot, "VolunteersScreen"))
    await wait_for(pilot, lambda: "王秀英" in str(pilot.app.screen.query_one("#vol-list").render()))


async def fill(pilot, **values: str):
    for name, value in values.items():
        field = pilot.app.screen.query_one(f"#input-{name}")
        field.focus()
        field.value = value
    await pilot.pause()


def message(pilot) -> str:
    return str(pilot.app.screen.query_one("#vol-message").render())


class TestVolunteerScreen:
    async def test_a_supervisor_adds_and_disables_at_the_desk(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)  # 李建国 is on duty
            await open_volunteers(pilot)
            text = screen_text(app)
            for words in ("值守人员", "F2 添加", "F5 启用", "姓名", "再输一次新 PIN"):
                assert words in text, f"{words!r} cut at 80x24:\n{text}"
            await fill(pilot, name="王五", role="volunteer", pin="2468", pin2="2468")
            await pilot.press("f2")
            await wait_for(pilot, lambda: "已添加 王五" in message(pilot))
            assert "王五" in str(app.screen.query_one("#vol-list").render())
            # Someone else's PIN is refused under the PIN field.
            await fill(pilot, name="赵六", pin="1234", pin2="1234")
            await pilot.press("f2")
            error = app.screen.query_one("#error-pin")
            await wait_for(pilot, lambda: "已被他人使用" in str(error.render()))
            # The last supervisor stays.
            await fill(pilot, name="王秀英")
            await pilot.press("f4")
            await wait_for(pilot, lambda: "最后一位管理员" in str(app.screen.query_one("#error-name").render()))
            # Disabling whoever is on duty: back at the duty screen it locks, and their PIN is refused.
            await fill(pilot, name="李建国")
            await pilot.press("f4")
            await wait_for(pilot, lambda: "已停用 李建国" in message(pilot))
            await pilot.press("escape")
            assert "PIN 不对" in await pin_refused_at_the_lock(pilot, "1234")
            await type_keys(pilot, "2468\r")
            await wait_for(pilot, lambda: app.volunteer is not None and app.volunteer.name == "王五")
        supervisor = volunteer_id(desk_dir, "王秀英")
        rows = db_rows(
            desk_dir,
            "SELECT action, volunteer_id FROM audit_event WHERE action IN ('volunteer_added', 'volunteer_disabled')"
            ' AND detail LIKE \'%"via": "desk"%\'',
        )
        assert sorted(rows) == [("volunteer_added", supervisor), ("volunteer_disabled", supervisor)]

    async def test_a_volunteer_pin_does_not_open_the_volunteer_screen(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await pilot.press("f8")
            await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
            await type_keys(pilot, "888888\r")
            await wait_for(pilot, on_screen(pilot, "SettingsScreen"))
            await pilot.press("f3")
            await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
            await wait_for(pilot, lambda: "管理值守人员需要管理员 PIN" in screen_text(app))
            await type_keys(pilot, "5678\r")  # 陈晓, a volunteer, standing at the open settings
            await wait_for(pilot, lambda: "不是管理员" in str(app.screen.query_one("#sup-message").render()))
            assert type(app.screen).__name__ == "SupervisorPinScreen"


class TestShortSupervisorPin:
    async def test_an_old_four_digit_supervisor_pin_is_replaced_at_the_pin_dialog(self, desk_dir):
        from models.store import KioskStore
        from models.volunteers import PinError, login
        from tests.test_volunteers import _store_short_pin

        store = KioskStore.open(desk_dir)
        _store_short_pin(store, "王秀英", "8888")  # set up before the 6-digit rule
        store.close()
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await pilot.press("f8")
            await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
            await type_keys(pilot, "8888\r")
            prompt = app.screen.query_one("#sup-prompt")
            await wait_for(pilot, lambda: "请设新的管理员 PIN" in str(prompt.render()))
            assert "不足 6 位" in str(app.screen.query_one("#sup-message").render())
            await type_keys(pilot, "1357\r")  # still too short
            await wait_for(pilot, lambda: "6-8" in str(app.screen.query_one("#sup-message").render()))
            await type_keys(pilot, "246810\r")
            await wait_for(pilot, lambda: "再输一次" in str(prompt.render()))
            await type_keys(pilot, "246810\r")
            await wait_for(pilot, on_screen(pilot, "SettingsScreen"))
        store = KioskStore.open(desk_dir)
        try:
            assert login(store, "246810").name == "王秀英"
            try:
                login(store, "8888")
                raise AssertionError("the old short PIN still works")
            except PinError:
                pass
        finally:
            store.close()
