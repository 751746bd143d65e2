"""What the desk's dialogs hand back (typed results), the key names the desk shows (as bound now),
and that a scan repaints the verdict, the prompt and the log without a new layout of the screen."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from textual.binding import Binding
from textual.widget import Widget

from tests.tui.conftest import db_rows, log_in, on_screen, scan, screen_text, token_of, type_keys, wait_for
from tui.app import DutyApp


def test_every_binding_in_the_desk_has_an_id():
    """A site remaps keys by binding id ([keys] in its settings): a binding without one cannot be
    remapped (a keyboard without F1 could not close the help)."""
    import tui
    import tui.screens
    import tui.widgets

    modules = [importlib.import_module("tui.app")]
    for package in (tui.screens, tui.widgets):
        modules += [
            importlib.import_module(f"{package.__name__}.{m.name}") for m in pkgutil.iter_modules(package.__path__)
        ]
    checked = 0
    for module in modules:
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or "BINDINGS" not in vars(cls):
                continue
            for binding in cls.BINDINGS:
                assert isinstance(binding, Binding), f"{cls.__name__}: {binding!r} is not a Binding"
                assert binding.id, f"{cls.__name__}: the binding for {binding.key} has no id"
                checked += 1
    assert checked >= 20 and tui.__name__ == "tui"


async def test_help_and_the_direction_key_show_the_keys_as_remapped(desk_dir):
    from tui.settings import KioskSettings, save_settings

    save_settings(desk_dir, KioskSettings(lang="en", keys={"direction": "f3", "lock": "f11,f12"}))
    app = DutyApp(desk_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        duty = await log_in(pilot)
        assert str(duty.query_one("#direction-key").render()) == "F3 In/Out"
        keys = {bid: key for bid, key, _meaning in duty.desk_keys()}
        assert (keys["direction"], keys["lock"], keys["help"], keys["quit"]) == ("F3", "F11", "F1", "Ctrl+Q")
        assert "F3 In/Out" in screen_text(app) and "F11 Lock" in screen_text(app)
        await pilot.press("f1")
        await wait_for(pilot, on_screen(pilot, "HelpScreen"))
        lines = [line.strip() for line in str(app.screen.query_one("#help-keys").render()).splitlines()]
        assert {"F3  In/Out", "F11  Lock", "F1  Help", "Ctrl+Q  Quit"} <= set(lines), lines
        assert not any(line.startswith(("F4 ", "F12 ")) for line in lines), lines


class Results:
    """A callback that keeps what a dialog dismissed with."""

    def __init__(self) -> None:
        self.got: list[object] = []

    def __call__(self, result: object) -> None:
        self.got.append(result)


async def test_the_registration_dismisses_with_what_was_saved(desk_dir):
    from tui.screens.register import RegisterScreen, RegistrationResult

    app = DutyApp(desk_dir, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        results = Results()
        await app.push_screen(RegisterScreen(direction="in"), callback=results)
        await wait_for(pilot, on_screen(pilot, "RegisterScreen"))
        for value in ["1", "Zhang San", "13800138000", "", "Shanghai", "3-2-501", "visit", "366"]:
            await type_keys(pilot, value + "\r")
            await pilot.pause(0.02)
        await wait_for(pilot, lambda: results.got)
        (record_id,) = db_rows(desk_dir, "SELECT record_id FROM registration")[0]
        assert results.got == [
            RegistrationResult(
                kind="visitor", kind_label="visitor", unit="3-2-501", name="Zhang San", record_id=record_id
            )
        ]


async def test_a_registration_with_a_fever_hands_the_wait_to_the_desk(desk_dir):
    from tui.screens.duty import FeverWait
    from tui.screens.register import RegisterScreen, RegistrationResult

    app = DutyApp(desk_dir, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        results = Results()
        await app.push_screen(RegisterScreen(direction="in", phone="13800138000", unit="3-2-501"), callback=results)
        await wait_for(pilot, on_screen(pilot, "RegisterScreen"))
        app.screen.query_one("#input-kind").focus()
        await pilot.pause()
        for value in ["1", "", "", "", "Wuhan", "", "visit", "385"]:
            await type_keys(pilot, value + "\r")
            await pilot.pause(0.02)
        await wait_for(pilot, lambda: results.got)
        (result,) = results.got
        assert isinstance(result, RegistrationResult) and isinstance(result.fever, FeverWait)
        assert (result.fever.unit, result.fever.first, result.fever.registration_id) == (
            "3-2-501",
            "38.5",
            result.record_id,
        )


async def test_escape_from_each_dialog_dismisses_with_none(desk_dir):
    from tui.screens.handover import HandoverScreen
    from tui.screens.register import RegisterScreen
    from tui.screens.settings import SettingsScreen
    from tui.screens.supervisor import SupervisorPinScreen

    app = DutyApp(desk_dir, lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        for screen in (RegisterScreen(), SettingsScreen(app.volunteer), SupervisorPinScreen("quit"), HandoverScreen()):
            results = Results()
            await app.push_screen(screen, callback=results)
            await wait_for(pilot, lambda s=screen: app.screen is s)
            await pilot.pause(0.05)
            await pilot.press("escape")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            assert results.got == [None], type(screen).__name__


async def test_settings_dismiss_with_the_changes_saved(desk_dir):
    from tui.screens.settings import SettingChange, SettingsResult, SettingsScreen

    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        results = Results()
        await app.push_screen(SettingsScreen(app.volunteer), callback=results)
        await wait_for(pilot, on_screen(pilot, "SettingsScreen"))
        box = app.screen.query_one("#input-idle_lock_minutes")
        box.value = "5"
        for _ in range(7):  # Enter through the five settings and the two enrolment fields
            await pilot.press("enter")
            await pilot.pause(0.02)
        await wait_for(pilot, lambda: results.got)
        assert results.got == [SettingsResult((SettingChange("idle_lock_minutes", "10", "5"),))]


async def test_the_supervisor_pin_dismisses_with_the_supervisor(desk_dir):
    from tui.screens.supervisor import SupervisorPinScreen

    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        results = Results()
        await app.push_screen(SupervisorPinScreen("settings"), callback=results)
        await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
        await type_keys(pilot, "888888\r")
        await wait_for(pilot, lambda: results.got)
        (who,) = results.got
        assert (who.name, who.is_supervisor) == ("王秀英", True)


async def test_the_lookup_dismisses_with_what_to_register_again(desk_dir):
    from tui.screens.lookup import LookupScreen, run_lookup
    from tui.screens.register import RegistrationPrefill

    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        unit = Results()
        await app.push_screen(LookupScreen(await app.db(run_lookup, "unit", "3-2-501")), callback=unit)
        await wait_for(pilot, on_screen(pilot, "LookupScreen"))
        await pilot.press("f2")  # nothing to register again for a unit: F2 only closes
        await wait_for(pilot, on_screen(pilot, "DutyScreen"))
        assert unit.got == [None]

        never_seen = await app.db(run_lookup, "phone", "13800138000")
        assert never_seen.register_with == RegistrationPrefill(phone="13800138000")
        await pilot.press("f2")
        await wait_for(pilot, on_screen(pilot, "RegisterScreen"))
        for value in ["1", "", "13800138000", "", "Wuhan", "3-2-501", "visit", "365"]:
            await type_keys(pilot, value + "\r")
            await pilot.pause(0.02)
        await wait_for(pilot, on_screen(pilot, "DutyScreen"))

        seen_before = await app.db(run_lookup, "phone", "13800138000")
        assert seen_before.register_with is None
        assert seen_before.offer_register == RegistrationPrefill(phone="13800138000")
        again = Results()
        await app.push_screen(LookupScreen(seen_before), callback=again)
        await wait_for(pilot, on_screen(pilot, "LookupScreen"))
        await pilot.press("f2")
        await wait_for(pilot, lambda: again.got)
        assert again.got == [RegistrationPrefill(phone="13800138000")]


@pytest.fixture
def layouts(monkeypatch):
    """Every widget that asked for a new layout of the screen (Widget.refresh(layout=True))."""
    asked: list[Widget] = []
    original = Widget.refresh

    def refresh(self, *regions, repaint=True, layout=False, recompose=False):
        if layout:
            asked.append(self)
        return original(self, *regions, repaint=repaint, layout=layout, recompose=recompose)

    monkeypatch.setattr(Widget, "refresh", refresh)
    return asked


async def test_a_scan_repaints_the_verdict_prompt_and_log_without_a_layout(desk_dir, layouts):
    """A layout repaints every widget of the screen: at a gate with a queue it was most of a
    scan's screen time. The verdict panel, the prompt and the log have fixed sizes in app.tcss,
    so their new words must not ask for one."""
    from tui.strings import t

    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(80, 24)) as pilot:
        duty = await log_in(pilot)
        watched = [duty.verdict_panel, *duty.verdict_panel.children, duty.query_one("#scan-prompt"), duty.log_widget]
        await scan(pilot, token_of(desk_dir, "3-2-501"))  # the first scan after login warms up
        await scan(pilot, "365")
        layouts.clear()
        for unit in ("1-1-102", "1-1-103", "1-1-104"):  # a new pass each time: the same one in twice is CHECK
            await scan(pilot, token_of(desk_dir, unit))
            assert duty.prompt_words == t("zh", "duty.temp_prompt")
            await scan(pilot, "365")
            assert "已保存" in duty.verdict_panel.text
        await scan(pilot, "110105194912310021")  # an ID number with a wrong check digit: the deny state
        assert duty.verdict_panel.state == "deny"
        await pilot.pause(0.1)
        assert [w for w in layouts if w in watched] == []


async def test_a_new_verdict_colour_works_out_the_panels_styles_once(desk_dir, monkeypatch):
    """Each stylesheet pass over the panel and its parts costs CPU a Pi-class kiosk does not
    have to spare: taking the old state's class off and putting the new one on was two."""
    from textual.app import App

    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(80, 24)) as pilot:
        duty = await log_in(pilot)
        panel = duty.verdict_panel
        passes: list[object] = []
        original = App.update_styles

        def update_styles(self, node, *args, **kwargs):
            if node is panel:
                passes.append(node)
            return original(self, node, *args, **kwargs)

        monkeypatch.setattr(App, "update_styles", update_styles)
        for state in ("allow", "deny", "refer", "allow"):
            passes.clear()
            panel.show(state, state.upper(), ["a line"])
            assert panel.has_class(f"verdict-{state}") and len(passes) == 1, (state, len(passes))
        assert [c for c in panel.classes if c.startswith("verdict-")] == ["verdict-allow"]
