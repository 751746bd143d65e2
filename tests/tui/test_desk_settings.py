"""The settings screen: a supervisor changes the kiosk's own settings at the desk; the file
holds them, each change is an audit record, and the desk uses them at once."""

from __future__ import annotations

import json

import pytest

from tests.tui.conftest import db_rows, log_in, on_screen, screen_text, type_keys, volunteer_id, wait_for
from tui.app import DutyApp


async def open_settings(pilot, pin: str = "888888"):
    await pilot.press("f8")
    await wait_for(pilot, on_screen(pilot, "SupervisorPinScreen"))
    await type_keys(pilot, pin + "\r")
    await pilot.pause(0.2)


async def settings_open(pilot):
    """The settings form is up and mounted: its first field has the focus (pushed is not enough:
    on a loaded machine its on_mount could move the focus after a test set a field)."""
    await wait_for(
        pilot,
        lambda: (
            on_screen(pilot, "SettingsScreen")() and any(w.has_focus for w in pilot.app.screen.query("#input-lang"))
        ),
    )


async def set_field(pilot, name: str, value: str):
    field = pilot.app.screen.query_one(f"#input-{name}")
    field.focus()
    field.value = value
    await pilot.pause()


class TestSettingsScreen:
    async def test_a_supervisor_changes_settings_saved_audited_and_used_at_once(self, desk_dir):
        from tui.settings import load_settings

        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await open_settings(pilot)
            await settings_open(pilot)
            await set_field(pilot, "lang", "en")
            await set_field(pilot, "idle_lock_minutes", "5")
            await set_field(pilot, "paper", "80")
            await pilot.press("enter")  # paper -> office (enrolment fields left empty)
            await pilot.press("enter")  # office -> code
            await pilot.press("enter")  # on the last field: save
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))
            await pilot.pause(0.1)
            text = screen_text(app)
            assert "Scan a pass" in text and "Settings saved" in text, text
        saved = load_settings(desk_dir)
        assert (saved.lang, saved.idle_lock_minutes, saved.paper) == ("en", 5, "80") and saved.error == ""
        audits = db_rows(desk_dir, "SELECT volunteer_id, detail FROM audit_event WHERE action = 'settings_changed'")
        supervisor = volunteer_id(desk_dir, "王秀英")
        assert {vid for vid, _d in audits} == {supervisor}
        assert sorted((json.loads(d)["setting"], json.loads(d)["old"], json.loads(d)["new"]) for _v, d in audits) == [
            ("idle_lock_minutes", "10", "5"),
            ("lang", "zh", "en"),
            ("paper", "58", "80"),
        ]

    @pytest.mark.parametrize(
        "name, value, words",
        [
            ("lang", "fr", "zh"),
            ("idle_lock_minutes", "soon", "1440"),
            ("paper", "110", "58"),
            ("name_display", "some", "masked"),
        ],
    )
    async def test_a_refused_value_stays_on_its_field_and_nothing_is_saved(self, desk_dir, name, value, words):
        app = DutyApp(desk_dir, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await open_settings(pilot)
            await settings_open(pilot)
            await set_field(pilot, name, value)
            await pilot.press("enter")
            await pilot.pause(0.1)
            assert type(app.screen).__name__ == "SettingsScreen"
            assert app.screen.query_one(f"#input-{name}").has_focus
            assert words in str(app.screen.query_one(f"#error-{name}").content)
        assert not (desk_dir / "kiosk-settings.toml").exists()
        assert db_rows(desk_dir, "SELECT count(*) FROM audit_event WHERE action = 'settings_changed'")[0][0] == 0

    async def test_a_volunteer_pin_does_not_open_settings(self, desk_dir):
        app = DutyApp(desk_dir, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot)
            await open_settings(pilot, "1234")
            assert type(app.screen).__name__ == "SupervisorPinScreen"
            assert "不是管理员" in screen_text(app)
            await pilot.press("escape")
            await wait_for(pilot, on_screen(pilot, "DutyScreen"))


class TestEnrolFromTheDesk:
    async def test_a_supervisor_enrols_the_kiosk_from_settings_and_it_is_audited(self, desk_dir, tmp_path):
        from sync.office.app import create_app
        from sync.office.enrol import add_checkpoint
        from tests.sync.helpers import ThreadedServer

        office_app = create_app(tmp_path / "office")
        code = add_checkpoint(office_app.state.office.engine, "东门卡口", "幸福里社区")["code"]
        app = DutyApp(desk_dir, lang="en")
        with ThreadedServer(office_app) as server:
            async with app.run_test(size=(80, 24)) as pilot:
                await log_in(pilot)
                await open_settings(pilot)
                await settings_open(pilot)
                await set_field(pilot, "office", "ftp://nowhere")
                await pilot.press("enter")
                assert "http://" in screen_text(app)  # refused on its field, says what it wants
                await set_field(pilot, "office", "http://10.0.0.2:8080")
                await pilot.press("enter")
                # Plain http to another machine would carry the enrolment keys in clear.
                assert "Use https:// (http: this PC only)" in screen_text(app)
                assert on_screen(pilot, "SettingsScreen")()
                await set_field(pilot, "office", server.url)
                await pilot.press("enter")  # office -> code
                await set_field(pilot, "code", "WRONG-CODE")
                await pilot.press("enter")
                # The office's own words reach the volunteer; nothing is enrolled.
                await wait_for(pilot, lambda: "wrong, used or expired" in screen_text(app), timeout=20)
                assert on_screen(pilot, "SettingsScreen")()
                assert db_rows(desk_dir, "SELECT office_url FROM kiosk_state")[0][0] is None
                await set_field(pilot, "code", code.lower())  # typed in lower case: still accepted
                await pilot.press("enter")
                await wait_for(pilot, on_screen(pilot, "DutyScreen"), timeout=30)
        assert db_rows(desk_dir, "SELECT office_url FROM kiosk_state")[0][0] == server.url
        audits = db_rows(desk_dir, "SELECT volunteer_id FROM audit_event WHERE action = 'enroll'")
        assert [a[0] for a in audits] == [volunteer_id(desk_dir, "王秀英")]
