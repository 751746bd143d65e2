"""Rules the desk keeps everywhere: start-up imports, strings, bindings, settings, goldens."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from tests.tui.conftest import UPDATE_GOLDENS, check_golden, log_in, mask_volatile, screen_text
from tui.app import DutyApp

GOLDENS = Path(__file__).with_name("goldens")
ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_app_does_not_import_the_database_layer():
    code = (
        "import sys, tui.app; heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlmodel', 'sqlalchemy', 'alembic', 'argon2', 'PIL', 'qrcode')); print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"imported before the first frame: {out.stdout.strip()}"


def test_ui_strings_have_no_ambiguous_width_characters():
    from tui.strings import STRINGS

    bad = []
    for lang, table in STRINGS.items():
        for key, text in table.items():
            for ch in text:
                if unicodedata.east_asian_width(ch) == "A":
                    bad.append((lang, key, ch, unicodedata.name(ch, "?")))
    assert bad == []
    # and the file itself, comments aside, quotes none of the listed characters
    source = (ROOT / "tui" / "strings.py").read_text(encoding="utf-8")
    body = source.split("STRINGS: dict", 1)[1]
    for ch in "℃“”…—·√×○■°":
        assert ch not in body, ch


def test_both_languages_have_every_string():
    from tui.strings import STRINGS

    assert set(STRINGS["zh"]) == set(STRINGS["en"])


def _all_screen_bindings():
    import importlib
    import pkgutil

    from textual.screen import Screen

    import tui.screens

    for info in pkgutil.iter_modules(tui.screens.__path__):
        module = importlib.import_module(f"tui.screens.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Screen) and obj.__module__ == module.__name__:
                for binding in vars(obj).get("BINDINGS", []):  # its own, not Textual's Tab
                    yield obj.__name__, binding
    for binding in DutyApp.BINDINGS:
        yield "DutyApp", binding


def test_no_binding_is_a_printable_key():
    for owner, binding in _all_screen_bindings():
        for key in binding.key.split(","):
            key = key.strip()
            assert not (len(key) == 1 and key.isprintable()), (owner, key)
            assert key not in ("space", "enter", "tab"), (owner, key)


def test_duty_bindings_have_ids_and_issue_pass_is_one():
    from tui.screens.duty import DutyScreen

    ids = {b.id for b in DutyScreen.BINDINGS}
    assert None not in ids
    assert {"help", "register", "direction", "recheck", "issue_pass", "handover", "lock"} <= ids


async def test_a_site_can_remap_a_key_in_its_settings(desk_dir):
    from tui.settings import KioskSettings, load_settings, save_settings

    save_settings(desk_dir, KioskSettings(lang="en", keys={"lock": "f11"}))
    assert load_settings(desk_dir).keys == {"lock": "f11"}
    app = DutyApp(desk_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        assert "F11 Lock" in screen_text(app)
        await pilot.press("f12")
        await pilot.pause(0.1)
        assert type(app.screen).__name__ == "DutyScreen"
        await pilot.press("f11")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "LoginScreen"


def test_a_damaged_settings_file_falls_back_to_defaults(tmp_path):
    from tui.settings import SETTINGS_FILE, load_settings

    (tmp_path / SETTINGS_FILE).write_text('lang = "fr"\nidle_lock_minutes = -3\n[keys\n', encoding="utf-8")
    s = load_settings(tmp_path)
    assert (s.lang, s.idle_lock_minutes) == ("zh", 10) and s.error
    (tmp_path / SETTINGS_FILE).write_text('lang = "fr"\nname_display = "full"\n', encoding="utf-8")
    s = load_settings(tmp_path)
    assert s.lang == "zh" and s.name_display == "full" and "lang" in s.error


async def test_help_lists_every_key(desk_dir):
    from tui.screens.duty import DESK_KEYS
    from tui.strings import t

    app = DutyApp(desk_dir, lang="zh")
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        await pilot.press("f1")
        await pilot.pause(0.1)
        text = screen_text(app)
        for _id, _key, _action, meaning in DESK_KEYS:
            assert t("zh", meaning) in text
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert type(app.screen).__name__ == "DutyScreen" and app.screen.scan_line.has_focus


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_duty_screen_golden(desk_dir, lang):
    """The duty screen after login and one routine passage, as plain text, clock masked."""
    from tests.tui.conftest import scan, token_of

    app = DutyApp(desk_dir, lang=lang)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        await scan(pilot, token_of(desk_dir, "3-2-501"))
        await scan(pilot, "365")
        text = mask_volatile(screen_text(app))
    check_golden(GOLDENS / f"duty_{lang}_80x24.txt", text)


def test_a_missing_golden_fails_and_says_how_to_write_it(tmp_path, monkeypatch):
    monkeypatch.delenv(UPDATE_GOLDENS, raising=False)
    golden = tmp_path / "duty_xx_80x24.txt"
    with pytest.raises(pytest.fail.Exception, match=f"{UPDATE_GOLDENS}=1"):
        check_golden(golden, "屏幕 screen")
    assert not golden.exists(), "a missing golden must not write itself"


def test_a_golden_that_differs_fails_with_the_diff(tmp_path, monkeypatch):
    monkeypatch.delenv(UPDATE_GOLDENS, raising=False)
    golden = tmp_path / "g.txt"
    golden.write_text("line one\nline two\n", encoding="utf-8")
    check_golden(golden, "line one\nline two")  # equal: passes
    with pytest.raises(pytest.fail.Exception, match=r"(?s)-line two.*\+line 2"):
        check_golden(golden, "line one\nline 2")


def test_goldens_are_written_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv(UPDATE_GOLDENS, "1")
    golden = tmp_path / "new.txt"
    check_golden(golden, "新 new")
    assert golden.read_text(encoding="utf-8") == "新 new\n"
